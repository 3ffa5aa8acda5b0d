//! The two migration sets (`migrations/sqlite`, `migrations/postgres`) must
//! define one schema: the same queries run on both through `sqlx::Any`. A
//! fresh database of each is migrated the way the app does it (`Db::migrate`)
//! and read back from its catalog (SQLite's pragmas and `sqlite_master`,
//! PostgreSQL's `information_schema` and `pg_catalog`); the two are compared
//! table by table:
//!
//! - columns: name, type family, nullability;
//! - the primary key (columns in order);
//! - unique constraints (columns in order);
//! - indexes made with `create index`: name, columns in order, unique or
//!   not, and for a partial index the columns its `where` reads;
//! - foreign keys: columns, referenced table and columns, `on delete` and
//!   `on update`;
//! - check constraints, by the columns each reads (their spelling may
//!   differ: `glob` on SQLite is a regular expression on PostgreSQL);
//! - triggers, by timing and event (SQLite needs one trigger per event where
//!   PostgreSQL has one `before update or delete`).
//!
//! Not compared: the one PostgreSQL-only index (`POSTGRES_ONLY_INDEX`),
//! defaults, the check and index predicates' exact text, and constraint
//! names (SQLite's catalog does not keep them). `_sqlx_migrations`
//! belongs to sqlx, not to us. A difference fails with one line per
//! difference, naming the table, the column or constraint, and both sides.

use crate::common::{fresh_database_url, Backend};
use app::server::db::Db;
use sqlx::{PgPool, SqlitePool};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Table {
    /// Name → (type family, not null).
    columns: BTreeMap<String, (String, bool)>,
    primary_key: Vec<String>,
    uniques: BTreeSet<Vec<String>>,
    /// Name → definition.
    indexes: BTreeMap<String, Index>,
    foreign_keys: BTreeSet<ForeignKey>,
    /// The columns each check reads, sorted; one entry per check.
    checks: Vec<Vec<String>>,
    /// (timing, event), lower case: ("before", "update").
    triggers: BTreeSet<(String, String)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Index {
    columns: Vec<String>,
    unique: bool,
    /// The columns a partial index's `where` reads; `None` for a full index.
    predicate: Option<Vec<String>>,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct ForeignKey {
    columns: Vec<String>,
    table: String,
    references: Vec<String>,
    on_delete: String,
    on_update: String,
}

type Schema = BTreeMap<String, Table>;

/// `call`'s trigram index for the number search: PostgreSQL only.
const POSTGRES_ONLY_INDEX: &str = "call_to_number_trgm_idx";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqlite_and_postgres_migrations_define_the_same_schema() {
    let data_dir = tempfile::tempdir().unwrap();
    let sqlite_url = fresh_database_url(Backend::Sqlite, data_dir.path()).await;
    let postgres_url = fresh_database_url(Backend::Postgres, data_dir.path()).await;
    for url in [&sqlite_url, &postgres_url] {
        let db = Db::connect(url).await.unwrap();
        db.migrate().await.expect("the migrations run");
        db.pool.close().await;
    }
    let sqlite = SqlitePool::connect(&sqlite_url).await.unwrap();
    let postgres = PgPool::connect(&postgres_url).await.unwrap();

    let sqlite_schema = sqlite_schema(&sqlite).await;
    let mut postgres_schema = postgres_schema(&postgres).await;
    // The one index only PostgreSQL has, on purpose: a trigram index
    // (pg_trgm) for the call history's number search; SQLite has no such
    // index kind (migration 0019 on both sides says why).
    let trigram = postgres_schema
        .get_mut("call")
        .and_then(|call| call.indexes.remove(POSTGRES_ONLY_INDEX));
    assert!(
        trigram.is_some(),
        "{POSTGRES_ONLY_INDEX} is missing on PostgreSQL"
    );
    sqlite.close().await;
    postgres.close().await;

    // Not an empty comparison: the tables every part of the app uses are there.
    for table in [
        "app_user",
        "org",
        "wallet",
        "ledger_entry",
        "job",
        "rate",
        "call",
    ] {
        assert!(
            sqlite_schema.contains_key(table),
            "no {table} table in {sqlite_schema:#?}"
        );
    }
    let differences = differences(&sqlite_schema, &postgres_schema);
    assert!(
        differences.is_empty(),
        "migrations/sqlite and migrations/postgres differ:\n{}",
        differences.join("\n")
    );
}

/// The comparison itself finds each kind of difference, and says where.
#[test]
fn each_kind_of_difference_is_reported_with_both_sides() {
    let mut left = Table::default();
    left.columns.insert("id".into(), ("text".into(), true));
    left.columns
        .insert("amount".into(), ("integer (64-bit)".into(), true));
    left.primary_key = vec!["id".into()];
    left.uniques.insert(vec!["amount".into()]);
    left.checks = vec![vec!["amount".into()]];
    left.indexes.insert(
        "thing_amount_idx".into(),
        Index {
            columns: vec!["amount".into()],
            unique: false,
            predicate: None,
        },
    );
    left.triggers.insert(("before".into(), "update".into()));
    let mut right = left.clone();
    right
        .columns
        .insert("amount".into(), ("integer (32-bit)".into(), false));
    right.columns.insert("extra".into(), ("text".into(), false));
    right.uniques.clear();
    right.checks.clear();
    right.indexes.get_mut("thing_amount_idx").unwrap().unique = true;
    right.triggers.clear();
    right.foreign_keys.insert(ForeignKey {
        columns: vec!["id".into()],
        table: "other".into(),
        references: vec!["id".into()],
        on_delete: "cascade".into(),
        on_update: "no action".into(),
    });
    let found = differences(
        &Schema::from([("thing".into(), left.clone()), ("gone".into(), left)]),
        &Schema::from([("thing".into(), right)]),
    )
    .join("\n");
    for expected in [
        "table gone: only in sqlite",
        "thing.amount: sqlite integer (64-bit) not null, postgres integer (32-bit) null",
        "thing.extra: only in postgres (text null)",
        "thing: unique (amount) only in sqlite",
        "thing: check on (amount) only in sqlite",
        "thing: index thing_amount_idx: sqlite",
        "thing: foreign key (id) references other (id)",
        "thing: trigger before update only in sqlite",
    ] {
        assert!(found.contains(expected), "{expected:?} not in:\n{found}");
    }
}

/// Every difference, one line each, tables and columns in name order.
fn differences(sqlite: &Schema, postgres: &Schema) -> Vec<String> {
    let mut out = Vec::new();
    for name in sqlite
        .keys()
        .chain(postgres.keys())
        .collect::<BTreeSet<_>>()
    {
        let (s, p) = match (sqlite.get(name), postgres.get(name)) {
            (Some(s), Some(p)) => (s, p),
            (Some(_), None) => {
                out.push(format!("table {name}: only in sqlite"));
                continue;
            }
            (None, Some(_)) => {
                out.push(format!("table {name}: only in postgres"));
                continue;
            }
            (None, None) => unreachable!(),
        };
        let nullity = |not_null: bool| if not_null { "not null" } else { "null" };
        for column in s
            .columns
            .keys()
            .chain(p.columns.keys())
            .collect::<BTreeSet<_>>()
        {
            match (s.columns.get(column), p.columns.get(column)) {
                (Some(a), Some(b)) if a == b => {}
                (Some((af, an)), Some((bf, bn))) => out.push(format!(
                    "{name}.{column}: sqlite {af} {}, postgres {bf} {}",
                    nullity(*an),
                    nullity(*bn)
                )),
                (Some((f, n)), None) => out.push(format!(
                    "{name}.{column}: only in sqlite ({f} {})",
                    nullity(*n)
                )),
                (None, Some((f, n))) => out.push(format!(
                    "{name}.{column}: only in postgres ({f} {})",
                    nullity(*n)
                )),
                (None, None) => unreachable!(),
            }
        }
        if s.primary_key != p.primary_key {
            out.push(format!(
                "{name}: primary key sqlite ({}), postgres ({})",
                s.primary_key.join(", "),
                p.primary_key.join(", ")
            ));
        }
        one_sided(&mut out, name, "unique", &s.uniques, &p.uniques, |u| {
            format!("({})", u.join(", "))
        });
        for index in s
            .indexes
            .keys()
            .chain(p.indexes.keys())
            .collect::<BTreeSet<_>>()
        {
            match (s.indexes.get(index), p.indexes.get(index)) {
                (Some(a), Some(b)) if a == b => {}
                (a, b) => out.push(format!(
                    "{name}: index {index}: sqlite {}, postgres {}",
                    describe_index(a),
                    describe_index(b)
                )),
            }
        }
        one_sided(
            &mut out,
            name,
            "foreign key",
            &s.foreign_keys,
            &p.foreign_keys,
            |f| {
                format!(
                    "({}) references {} ({}) on delete {} on update {}",
                    f.columns.join(", "),
                    f.table,
                    f.references.join(", "),
                    f.on_delete,
                    f.on_update
                )
            },
        );
        let (mut s_checks, mut p_checks) = (s.checks.clone(), p.checks.clone());
        for check in &s.checks {
            if let Some(at) = p_checks.iter().position(|c| c == check) {
                p_checks.remove(at);
                let at = s_checks.iter().position(|c| c == check).unwrap();
                s_checks.remove(at);
            }
        }
        for (side, left) in [("sqlite", &s_checks), ("postgres", &p_checks)] {
            for check in left {
                out.push(format!(
                    "{name}: check on ({}) only in {side}",
                    check.join(", ")
                ));
            }
        }
        one_sided(
            &mut out,
            name,
            "trigger",
            &s.triggers,
            &p.triggers,
            |(t, e)| format!("{t} {e}"),
        );
    }
    out
}

fn one_sided<T: Ord>(
    out: &mut Vec<String>,
    table: &str,
    what: &str,
    sqlite: &BTreeSet<T>,
    postgres: &BTreeSet<T>,
    show: impl Fn(&T) -> String,
) {
    for item in sqlite.difference(postgres) {
        out.push(format!("{table}: {what} {} only in sqlite", show(item)));
    }
    for item in postgres.difference(sqlite) {
        out.push(format!("{table}: {what} {} only in postgres", show(item)));
    }
}

fn describe_index(index: Option<&Index>) -> String {
    let Some(index) = index else {
        return "none".to_owned();
    };
    let mut text = format!(
        "{}({})",
        if index.unique { "unique " } else { "" },
        index.columns.join(", ")
    );
    if let Some(columns) = &index.predicate {
        let _ = write!(text, " where on ({})", columns.join(", "));
    }
    text
}

/// The type family a declared SQLite type has (SQLite's affinity rules).
/// SQLite's INTEGER is a 64-bit integer, and `sqlx::Any` reads it as `i64`.
fn sqlite_family(declared: &str) -> String {
    let upper = declared.to_ascii_uppercase();
    let family = if upper.contains("INT") {
        "integer (64-bit)"
    } else if ["CHAR", "CLOB", "TEXT"].iter().any(|t| upper.contains(t)) {
        "text"
    } else if upper.contains("BLOB") || upper.is_empty() {
        "blob"
    } else if ["REAL", "FLOA", "DOUB"].iter().any(|t| upper.contains(t)) {
        "real"
    } else {
        "numeric"
    };
    family.to_owned()
}

/// The type family of a PostgreSQL type (`information_schema.columns.data_type`).
/// `bigint` is SQLite's INTEGER: both are 64-bit and read as `i64` (the
/// migrations spell them differently on purpose). A PostgreSQL `integer` is
/// 32-bit, which `sqlx::Any` does not read as `i64`: a different family.
/// `bytea` is SQLite's BLOB.
fn postgres_family(data_type: &str) -> String {
    match data_type {
        "bigint" => "integer (64-bit)",
        "integer" => "integer (32-bit)",
        "smallint" => "integer (16-bit)",
        "text" | "character varying" | "character" => "text",
        "bytea" => "blob",
        "real" | "double precision" => "real",
        "numeric" => "numeric",
        other => other,
    }
    .to_owned()
}

// ---- SQLite ----

async fn sqlite_schema(pool: &SqlitePool) -> Schema {
    let tables: Vec<(String, String)> = sqlx::query_as(
        "select name, sql from sqlite_master
         where type = 'table' and name not like 'sqlite_%' and name <> '_sqlx_migrations'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut schema = Schema::new();
    for (name, sql) in tables {
        schema.insert(name.clone(), sqlite_table(pool, &name, &sql).await);
    }
    schema
}

async fn sqlite_table(pool: &SqlitePool, name: &str, sql: &str) -> Table {
    let mut table = Table::default();
    let columns: Vec<(String, String, i64, i64)> = sqlx::query_as(
        r#"select name, type, "notnull", pk from pragma_table_info(?1) order by cid"#,
    )
    .bind(name)
    .fetch_all(pool)
    .await
    .unwrap();
    let mut primary_key = Vec::new();
    for (column, declared, not_null, pk) in &columns {
        // SQLite lets a primary key that is not an INTEGER PRIMARY KEY hold
        // NULL (a legacy quirk, `pragma table_info` says nullable), where
        // PostgreSQL makes every key column NOT NULL. The app never stores a
        // NULL key, so a key column counts as not null on both.
        let not_null = *not_null != 0 || *pk > 0;
        table
            .columns
            .insert(column.clone(), (sqlite_family(declared), not_null));
        if *pk > 0 {
            primary_key.push((*pk, column.clone()));
        }
    }
    primary_key.sort();
    table.primary_key = primary_key.into_iter().map(|(_, c)| c).collect();
    let names: BTreeSet<String> = table.columns.keys().cloned().collect();

    let indexes: Vec<(String, i64, String, i64)> =
        sqlx::query_as(r#"select name, "unique", origin, partial from pragma_index_list(?1)"#)
            .bind(name)
            .fetch_all(pool)
            .await
            .unwrap();
    for (index, unique, origin, partial) in indexes {
        let columns: Vec<(String,)> =
            sqlx::query_as("select name from pragma_index_info(?1) order by seqno")
                .bind(&index)
                .fetch_all(pool)
                .await
                .unwrap();
        let columns: Vec<String> = columns.into_iter().map(|(c,)| c).collect();
        match origin.as_str() {
            // The primary key's own index: the key is compared above.
            "pk" => {}
            "u" => {
                table.uniques.insert(columns);
            }
            _ => {
                let predicate = if partial != 0 {
                    let (sql,): (String,) = sqlx::query_as(
                        "select sql from sqlite_master where type = 'index' and name = ?1",
                    )
                    .bind(&index)
                    .fetch_one(pool)
                    .await
                    .unwrap();
                    let lower = sql.to_ascii_lowercase();
                    let at = lower.rfind(" where ").expect("a partial index has a where");
                    Some(columns_read(&sql[at..], &names))
                } else {
                    None
                };
                table.indexes.insert(
                    index,
                    Index {
                        columns,
                        unique: unique != 0,
                        predicate,
                    },
                );
            }
        }
    }

    let keys: Vec<(i64, String, String, Option<String>, String, String)> = sqlx::query_as(
        r#"select id, "table", "from", "to", on_delete, on_update
           from pragma_foreign_key_list(?1) order by id, seq"#,
    )
    .bind(name)
    .fetch_all(pool)
    .await
    .unwrap();
    let mut by_id: BTreeMap<i64, ForeignKey> = BTreeMap::new();
    for (id, target, from, to, on_delete, on_update) in keys {
        let key = by_id.entry(id).or_insert_with(|| ForeignKey {
            columns: Vec::new(),
            table: target.clone(),
            references: Vec::new(),
            on_delete: on_delete.to_ascii_lowercase(),
            on_update: on_update.to_ascii_lowercase(),
        });
        key.columns.push(from);
        // `references t` without columns means t's primary key.
        key.references.push(to.unwrap_or_default());
    }
    for mut key in by_id.into_values() {
        if key.references.iter().any(String::is_empty) {
            let target: Vec<(String,)> =
                sqlx::query_as("select name from pragma_table_info(?1) where pk > 0 order by pk")
                    .bind(&key.table)
                    .fetch_all(pool)
                    .await
                    .unwrap();
            key.references = target.into_iter().map(|(c,)| c).collect();
        }
        table.foreign_keys.insert(key);
    }

    // SQLite keeps no catalog of checks: they are read from the table's SQL.
    let mut checks: Vec<Vec<String>> = check_bodies(sql)
        .iter()
        .map(|body| columns_read(body, &names))
        .collect();
    checks.sort();
    table.checks = checks;

    let triggers: Vec<(String,)> =
        sqlx::query_as("select sql from sqlite_master where type = 'trigger' and tbl_name = ?1")
            .bind(name)
            .fetch_all(pool)
            .await
            .unwrap();
    for (sql,) in triggers {
        // `create trigger <name> <timing> <event> on <table> …`: the words
        // before `on`, not the body.
        let words = words(&strip_comments(&sql).to_ascii_lowercase());
        let header = &words[..words.iter().position(|w| w == "on").unwrap_or(words.len())];
        let timing = ["before", "after", "instead"]
            .into_iter()
            .find(|t| header.iter().any(|w| w == t))
            .unwrap_or_else(|| panic!("no timing in {sql}"));
        let event = ["insert", "update", "delete"]
            .into_iter()
            .find(|e| header.iter().any(|w| w == e))
            .unwrap_or_else(|| panic!("no event in {sql}"));
        let timing = if timing == "instead" {
            "instead of"
        } else {
            timing
        };
        table.triggers.insert((timing.to_owned(), event.to_owned()));
    }
    table
}

/// The SQL without `--` comments (which may say anything, "check" included)
/// and with the text of string literals blanked.
fn strip_comments(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                out.push('\'');
                // '' inside a literal is a quote: two literals back to back read the same.
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                }
                out.push('\'');
            }
            '-' if chars.peek() == Some(&'-') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// The text inside each `check ( … )` of a CREATE TABLE.
fn check_bodies(sql: &str) -> Vec<String> {
    let sql = strip_comments(sql);
    let lower = sql.to_ascii_lowercase();
    let bytes = lower.as_bytes();
    let mut bodies = Vec::new();
    let mut from = 0;
    while let Some(found) = lower[from..].find("check") {
        let start = from + found;
        from = start + "check".len();
        let before = start.checked_sub(1).map(|i| bytes[i]);
        if before.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_') {
            continue;
        }
        let rest = lower[from..].trim_start();
        if !rest.starts_with('(') {
            continue;
        }
        let open = lower.len() - rest.len();
        let mut depth = 0;
        for (i, b) in bytes.iter().enumerate().skip(open) {
            match b {
                b'(' => depth += 1,
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        bodies.push(sql[open + 1..i].to_owned());
                        from = i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
    }
    bodies
}

fn words(sql: &str) -> Vec<String> {
    sql.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The table's columns an expression reads, sorted. String literals are
/// blanked and casts (`::text`) dropped first, so neither counts.
fn columns_read(expression: &str, columns: &BTreeSet<String>) -> Vec<String> {
    let text = strip_comments(expression);
    let without_casts: String = {
        let mut out = String::new();
        let mut rest = text.as_str();
        while let Some(at) = rest.find("::") {
            out.push_str(&rest[..at]);
            rest = rest[at + 2..].trim_start_matches(|c: char| {
                c.is_ascii_alphanumeric() || c == '_' || c == '[' || c == ']'
            });
        }
        out.push_str(rest);
        out
    };
    let read: BTreeSet<String> = words(&without_casts)
        .into_iter()
        .filter(|w| columns.contains(w))
        .collect();
    read.into_iter().collect()
}

// ---- PostgreSQL ----

async fn postgres_schema(pool: &PgPool) -> Schema {
    let tables: Vec<(String,)> = sqlx::query_as(
        "select c.relname::text from pg_class c join pg_namespace n on n.oid = c.relnamespace
         where n.nspname = current_schema() and c.relkind in ('r', 'p')
           and c.relname <> '_sqlx_migrations'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut schema = Schema::new();
    for (name,) in tables {
        schema.insert(name.clone(), postgres_table(pool, &name).await);
    }
    schema
}

/// The column names of `conkey`-like attribute arrays, in array order.
const KEY_COLUMNS: &str = "(select string_agg(a.attname::text, ',' order by k.ord)
     from unnest({array}) with ordinality k(attnum, ord)
     join pg_attribute a on a.attrelid = {relation} and a.attnum = k.attnum)";

fn key_columns(array: &str, relation: &str) -> String {
    KEY_COLUMNS
        .replace("{array}", array)
        .replace("{relation}", relation)
}

fn split(columns: Option<String>) -> Vec<String> {
    columns
        .unwrap_or_default()
        .split(',')
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `pg_constraint.confdeltype` / `confupdtype` in SQLite's words.
fn action(code: &str) -> String {
    match code {
        "a" => "no action",
        "r" => "restrict",
        "c" => "cascade",
        "n" => "set null",
        "d" => "set default",
        other => other,
    }
    .to_owned()
}

/// A row of `pg_constraint`, key columns by name.
#[derive(sqlx::FromRow)]
struct PgConstraint {
    /// `p`rimary key, `u`nique, `f`oreign key, `c`heck …
    kind: String,
    columns: Option<String>,
    /// A foreign key's table and columns.
    target: Option<String>,
    referenced: Option<String>,
    on_delete: String,
    on_update: String,
}

async fn postgres_table(pool: &PgPool, name: &str) -> Table {
    let mut table = Table::default();
    let columns: Vec<(String, String, bool)> = sqlx::query_as(
        "select column_name::text, data_type::text, is_nullable::text = 'NO'
         from information_schema.columns
         where table_schema = current_schema() and table_name = $1",
    )
    .bind(name)
    .fetch_all(pool)
    .await
    .unwrap();
    for (column, data_type, not_null) in columns {
        table
            .columns
            .insert(column, (postgres_family(&data_type), not_null));
    }
    let names: BTreeSet<String> = table.columns.keys().cloned().collect();

    let constraints: Vec<PgConstraint> = sqlx::query_as(&format!(
        "select con.contype::text as kind, {} as columns, target.relname::text as target,
                    {} as referenced, con.confdeltype::text as on_delete,
                    con.confupdtype::text as on_update
             from pg_constraint con
             join pg_class rel on rel.oid = con.conrelid
             join pg_namespace n on n.oid = rel.relnamespace
             left join pg_class target on target.oid = con.confrelid
             where n.nspname = current_schema() and rel.relname = $1",
        key_columns("con.conkey", "con.conrelid"),
        key_columns("con.confkey", "con.confrelid"),
    ))
    .bind(name)
    .fetch_all(pool)
    .await
    .unwrap();
    let mut checks = Vec::new();
    for PgConstraint {
        kind,
        columns,
        target,
        referenced,
        on_delete,
        on_update,
    } in constraints
    {
        let mut columns = split(columns);
        match kind.as_str() {
            "p" => table.primary_key = columns,
            "u" => {
                table.uniques.insert(columns);
            }
            "f" => {
                table.foreign_keys.insert(ForeignKey {
                    columns,
                    table: target.expect("a foreign key references a table"),
                    references: split(referenced),
                    on_delete: action(&on_delete),
                    on_update: action(&on_update),
                });
            }
            "c" => {
                columns.sort();
                checks.push(columns);
            }
            // PostgreSQL 18 lists NOT NULL as constraints: compared with the columns.
            "n" => {}
            other => panic!("{name}: a constraint of kind {other:?} this test does not know"),
        }
    }
    checks.sort();
    table.checks = checks;

    // Indexes of their own: not the ones behind a primary key or unique constraint.
    let indexes: Vec<(String, Option<String>, bool, Option<String>)> = sqlx::query_as(&format!(
        "select ic.relname::text, {}, i.indisunique, pg_get_expr(i.indpred, i.indrelid)
             from pg_index i
             join pg_class ic on ic.oid = i.indexrelid
             join pg_class rel on rel.oid = i.indrelid
             join pg_namespace n on n.oid = rel.relnamespace
             where n.nspname = current_schema() and rel.relname = $1
               and not exists (select 1 from pg_constraint con where con.conindid = i.indexrelid)",
        key_columns("i.indkey::int2[]", "i.indrelid"),
    ))
    .bind(name)
    .fetch_all(pool)
    .await
    .unwrap();
    for (index, columns, unique, predicate) in indexes {
        table.indexes.insert(
            index,
            Index {
                columns: split(columns),
                unique,
                predicate: predicate.map(|p| columns_read(&p, &names)),
            },
        );
    }

    let triggers: Vec<(String, String)> = sqlx::query_as(
        "select lower(action_timing::text), lower(event_manipulation::text)
         from information_schema.triggers
         where event_object_schema = current_schema() and event_object_table = $1",
    )
    .bind(name)
    .fetch_all(pool)
    .await
    .unwrap();
    table.triggers = triggers.into_iter().collect();
    table
}
