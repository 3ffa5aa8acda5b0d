//! Reading the calls an organization made: the history (filtered, paginated,
//! exported) and one call with everything needed to explain its cost. Nothing
//! here writes; placing, progressing and billing calls is the call service's.
//! Every query takes the organization id a guard checked and reads only that
//! organization's calls.
//!
//! The filter lives here because the server functions (`api/call_history.rs`)
//! and the CSV export (`server/src/exports/calls.rs`) must read exactly the
//! same rows; both check it with [`checked_filter`]. Its date range is every
//! history's (`server::paging::DayRange`).

use super::calls::{Call, CallRow, CALL_COLUMNS};
use crate::domain::{deleted_account, CallStatus};
use crate::error::AppError;
use crate::server::paging::{present, DayRange, FilterError};
use serde::Deserialize;
use sqlx::any::AnyArguments;
use sqlx::query::QueryAs;
use sqlx::{Any, AnyPool, Executor, FromRow};
use std::sync::LazyLock;

/// E.164 numbers have at most 15 digits: a longer search cannot match.
pub const MAX_NUMBER_DIGITS: usize = 15;

/// The status filter's value for answered calls (completed with talk time).
pub const ANSWERED: &str = "answered";

/// Which calls by status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusFilter {
    /// Completed with more than 0 seconds of talk time: the calls that were
    /// actually had (and, at a non-zero rate, paid for).
    Answered,
    /// Exactly this carrier status.
    Is(CallStatus),
}

impl StatusFilter {
    pub fn parse(raw: &str) -> Option<Self> {
        if raw == ANSWERED {
            Some(StatusFilter::Answered)
        } else {
            CallStatus::parse(raw).map(StatusFilter::Is)
        }
    }

    /// `(status, least talk time)` as the query binds them.
    fn binds(self) -> (&'static str, i64) {
        match self {
            StatusFilter::Answered => (CallStatus::Completed.as_str(), 1),
            StatusFilter::Is(status) => (status.as_str(), 0),
        }
    }
}

/// The filters as a query string carries them, each optional; empty means "any".
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct RawCallFilter {
    /// `YYYY-MM-DD`, UTC, included.
    pub from: Option<String>,
    /// `YYYY-MM-DD`, UTC, included.
    pub to: Option<String>,
    /// A carrier status (`busy`, `no-answer` …) or `answered`.
    pub status: Option<String>,
    /// A user id.
    pub member: Option<String>,
    /// Digits of the number, formatted any way.
    pub number: Option<String>,
}

/// Which calls a history view (page or CSV) shows. Every part is optional.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallFilter {
    pub days: DayRange,
    pub status: Option<StatusFilter>,
    /// The user id of the member who dialed.
    pub member: Option<String>,
    /// Digits that must appear, in this order, in the dialed number.
    pub number_digits: Option<String>,
}

impl CallFilter {
    /// Parses the filters. Whether `member` is someone of the organization is
    /// the caller's check (it needs the database: see [`callers`]).
    pub fn parse(raw: &RawCallFilter) -> Result<Self, FilterError> {
        let days = DayRange::parse(raw.from.as_deref(), raw.to.as_deref())?;
        let status = present(raw.status.as_deref())
            .map(|value| {
                StatusFilter::parse(value).ok_or(FilterError {
                    field: "status",
                    message: "choose a call status from the list",
                })
            })
            .transpose()?;
        let number_digits = present(raw.number.as_deref())
            .map(search_digits)
            .transpose()?;
        Ok(Self {
            days,
            status,
            member: present(raw.member.as_deref()).map(str::to_owned),
            number_digits,
        })
    }

    #[cfg(test)]
    fn status_binds(&self) -> (&'static str, i64) {
        self.status.map(StatusFilter::binds).unwrap_or(("", 0))
    }

    /// `%digits%`, or `%` (everything) without a search. The digits carry no
    /// LIKE wildcards, and E.164 is `+` then digits, so a run of digits found
    /// in `to_number` is found in its digits.
    fn number_pattern(&self) -> String {
        format!("%{}%", self.number_digits.as_deref().unwrap_or(""))
    }
}

/// The digits of a number as someone typed it to search: spaces, dashes,
/// dots, parentheses and `+` are formatting and are dropped.
fn search_digits(raw: &str) -> Result<String, FilterError> {
    let mut digits = String::new();
    for c in raw.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else if !matches!(c, ' ' | '-' | '.' | '(' | ')' | '+') {
            return Err(FilterError {
                field: "number",
                message: "search by the digits of a number (spaces, dashes and + are fine)",
            });
        }
    }
    if digits.is_empty() {
        return Err(FilterError {
            field: "number",
            message: "type at least one digit of the number to search for",
        });
    }
    if digits.len() > MAX_NUMBER_DIGITS {
        return Err(FilterError {
            field: "number",
            message: "a phone number has at most 15 digits",
        });
    }
    Ok(digits)
}

/// One call as the history and its explanation read it: the call row, who
/// dialed it, and the ledger entry that charged it (if one did).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryCall {
    pub call: Call,
    pub member_name: String,
    pub member_email: String,
    /// The charge as the ledger recorded it: negative.
    pub ledger_amount: Option<i64>,
}

#[derive(FromRow)]
struct HistoryRow {
    #[sqlx(flatten)]
    call: CallRow,
    member_name: String,
    member_email: String,
    ledger_amount: Option<i64>,
}

impl TryFrom<HistoryRow> for HistoryCall {
    type Error = sqlx::Error;

    fn try_from(row: HistoryRow) -> Result<Self, Self::Error> {
        Ok(HistoryCall {
            call: Call::try_from(row.call)?,
            // An erased account's calls stay, shown as "deleted user".
            member_name: deleted_account::shown_name(row.member_name),
            member_email: deleted_account::shown_email(row.member_email),
            ledger_amount: row.ledger_amount,
        })
    }
}

/// Every column of `call` (as `call.<column>`), who dialed it, and the charge's ledger amount.
static RECORD_COLUMNS: LazyLock<String> = LazyLock::new(|| {
    let call_columns: Vec<String> = CALL_COLUMNS
        .split(',')
        .map(|column| format!("call.{}", column.trim()))
        .collect();
    format!(
        "{}, app_user.name as member_name, app_user.email as member_email,
         ledger_entry.amount as ledger_amount",
        call_columns.join(", ")
    )
});

// The ledger entry is matched within the same organization too, so a wrong id
// on a call could never show another tenant's entry.
const RECORD_FROM: &str = "from call
    join app_user on app_user.user_id = call.user_id
    left join ledger_entry on ledger_entry.ledger_entry_id = call.ledger_entry_id
                          and ledger_entry.org_id = call.org_id";

/// A value a filtered statement binds.
enum Bind {
    Text(String),
    Int(i64),
}

/// The conditions of `filter` on the calls of `org_id` (as `<table>.<column>`),
/// and the values they bind from `$1` on, in order. Only the filters in use
/// are in the statement: an unused one written as `($4 = '' or …)` would
/// still make the database read every call's row to evaluate it, where the
/// organization and date range alone are answered from the index
/// `call_org_history_idx` (docs/performance.md has the query plans).
/// There are at most 16 shapes; each is prepared once per connection.
fn filtered(table: &str, org_id: &str, filter: &CallFilter) -> (String, Vec<Bind>) {
    filtered_past(table, org_id, filter, None)
}

/// [`filtered`], and only the calls whose place in the history order
/// compares with `key` by `op` (`<`: older, `>`: newer; `<=` and `>=` take
/// the key's own call too). The key's second also narrows the date range
/// itself: SQLite walks the index by the range, and without it would test
/// every call between the range's end and the key (8 ms deep in 100,000
/// calls, against 0.01 ms).
fn filtered_past(
    table: &str,
    org_id: &str,
    filter: &CallFilter,
    past: Option<(&HistoryKey, &str)>,
) -> (String, Vec<Bind>) {
    let (mut start, mut end) = filter.days.bounds();
    if let Some((key, op)) = past {
        if op.starts_with('<') {
            end = end.min(key.created_at.saturating_add(1));
        } else {
            start = start.max(key.created_at);
        }
    }
    let mut binds = vec![
        Bind::Text(org_id.to_owned()),
        Bind::Int(start),
        Bind::Int(end),
    ];
    let mut sql =
        format!("{table}.org_id = $1 and {table}.created_at >= $2 and {table}.created_at < $3");
    if let Some(status) = filter.status {
        let (status, least_duration) = status.binds();
        binds.push(Bind::Text(status.to_owned()));
        sql += &format!(" and {table}.status = ${}", binds.len());
        if least_duration > 0 {
            binds.push(Bind::Int(least_duration));
            sql += &format!(
                " and coalesce({table}.duration_secs, 0) >= ${}",
                binds.len()
            );
        }
    }
    if let Some(member) = &filter.member {
        binds.push(Bind::Text(member.clone()));
        sql += &format!(" and {table}.user_id = ${}", binds.len());
    }
    if filter.number_digits.is_some() {
        binds.push(Bind::Text(filter.number_pattern()));
        sql += &format!(" and {table}.to_number like ${}", binds.len());
    }
    if let Some((key, op)) = past {
        binds.push(Bind::Int(key.created_at));
        binds.push(Bind::Text(key.call_id.clone()));
        sql += &format!(
            " and ({table}.created_at, {table}.call_id) {op} (${}, ${})",
            binds.len() - 1,
            binds.len()
        );
    }
    (sql, binds)
}

type Query<'q, O> = QueryAs<'q, Any, O, AnyArguments<'q>>;

fn bind_all<O>(mut query: Query<'_, O>, binds: Vec<Bind>) -> Query<'_, O> {
    for value in binds {
        query = match value {
            Bind::Text(text) => query.bind(text),
            Bind::Int(n) => query.bind(n),
        };
    }
    query
}

/// How many calls the filter matches, counting no further than `up_to`: a
/// page says "more than 10,000 calls" rather than read 100,000 to say
/// exactly how many, and an export only needs to know it is under its limit.
#[tracing::instrument(skip_all, fields(org_id))]
pub async fn count_calls<'c>(
    db: impl Executor<'c, Database = Any>,
    org_id: &str,
    filter: &CallFilter,
    up_to: i64,
) -> Result<i64, sqlx::Error> {
    let (conditions, mut binds) = filtered("call", org_id, filter);
    let sql = format!(
        "select count(*) from (select 1 from call where {conditions} limit ${}) counted",
        binds.len() + 1
    );
    binds.push(Bind::Int(up_to));
    let (n,): (i64,) = bind_all(sqlx::query_as(&sql), binds).fetch_one(db).await?;
    Ok(n)
}

/// Where a call stands in the history's order: newest first, calls started
/// in the same second ordered by id, so no two calls share a place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryKey {
    pub created_at: i64,
    pub call_id: String,
}

impl HistoryKey {
    pub fn of(call: &Call) -> Self {
        Self {
            created_at: call.created_at,
            call_id: call.call_id.clone(),
        }
    }
}

/// Which page of the history: one of its ends, or the calls just past a
/// call on the page before. Page links carry this instead of a page number
/// (`param`), so any page is found with a few steps of the index
/// `call_org_history_idx` wherever it lies in 100,000 calls, and calls
/// placed while someone pages never shift what "older" shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Position {
    #[default]
    Newest,
    /// The calls older than this one (the last row of a newer page).
    OlderThan(HistoryKey),
    /// The calls newer than this one (the first row of an older page).
    NewerThan(HistoryKey),
    Oldest,
}

const OLDEST: &str = "oldest";
const OLDER: &str = "older";
const NEWER: &str = "newer";

impl Position {
    /// From a page link's `page` parameter; none or empty is the newest page.
    pub fn parse(raw: Option<&str>) -> Result<Self, FilterError> {
        let Some(raw) = present(raw) else {
            return Ok(Position::Newest);
        };
        if raw == OLDEST {
            return Ok(Position::Oldest);
        }
        let mut parts = raw.splitn(3, '.');
        let (Some(side), Some(time), Some(call_id)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(broken_link());
        };
        let created_at = time.parse::<i64>().map_err(|_| broken_link())?;
        if call_id.is_empty()
            || !call_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(broken_link());
        }
        let key = HistoryKey {
            created_at,
            call_id: call_id.to_owned(),
        };
        match side {
            OLDER => Ok(Position::OlderThan(key)),
            NEWER => Ok(Position::NewerThan(key)),
            _ => Err(broken_link()),
        }
    }

    /// The `page` parameter of a link to this page; None for the newest,
    /// which needs none.
    pub fn param(&self) -> Option<String> {
        match self {
            Position::Newest => None,
            Position::OlderThan(key) => Some(format!("{OLDER}.{}.{}", key.created_at, key.call_id)),
            Position::NewerThan(key) => Some(format!("{NEWER}.{}.{}", key.created_at, key.call_id)),
            Position::Oldest => Some(OLDEST.to_owned()),
        }
    }
}

fn broken_link() -> FilterError {
    FilterError {
        field: "page",
        message: "this page link is incomplete or mistyped: start again from the newest calls",
    }
}

/// One page of the history, newest first, and whether there is more on
/// either side of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallsPage {
    pub calls: Vec<HistoryCall>,
    pub newer: bool,
    pub older: bool,
}

/// Where the links from one page lead, None where there is nothing that way.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PageNeighbours {
    pub newest: Option<Position>,
    pub newer: Option<Position>,
    pub older: Option<Position>,
    pub oldest: Option<Position>,
}

impl CallsPage {
    /// Newer continues from the page's first call, older from its last; the
    /// ends are offered wherever there is something that way.
    pub fn neighbours(&self) -> PageNeighbours {
        let key = |call: &HistoryCall| HistoryKey::of(&call.call);
        let first = self.calls.first().filter(|_| self.newer).map(key);
        let last = self.calls.last().filter(|_| self.older).map(key);
        PageNeighbours {
            newest: self.newer.then_some(Position::Newest),
            newer: first.map(Position::NewerThan),
            older: last.map(Position::OlderThan),
            oldest: self.older.then_some(Position::Oldest),
        }
    }
}

/// Which way a page is read from where it starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Walk {
    Older,
    Newer,
}

/// The page of up to `limit` matching calls at `position`.
pub async fn calls_at(
    pool: &AnyPool,
    org_id: &str,
    filter: &CallFilter,
    position: &Position,
    limit: i64,
) -> Result<CallsPage, sqlx::Error> {
    let (from, walk) = match position {
        Position::Newest => (None, Walk::Older),
        Position::OlderThan(key) => (Some(key), Walk::Older),
        Position::NewerThan(key) => (Some(key), Walk::Newer),
        Position::Oldest => (None, Walk::Newer),
    };
    // One row more than the page says whether the walk could go on.
    let mut calls = walk_calls(pool, org_id, filter, from, walk, limit + 1).await?;
    let onward = calls.len() as i64 > limit;
    if onward {
        match walk {
            Walk::Older => drop(calls.pop()),
            Walk::Newer => drop(calls.remove(0)),
        }
    }
    // Back the way the link came: the call it started from, or any past it.
    let back = match from {
        None => false,
        Some(key) => any_at_or_past(pool, org_id, filter, key, walk).await?,
    };
    let (newer, older) = match walk {
        Walk::Older => (back, onward),
        Walk::Newer => (onward, back),
    };
    Ok(CallsPage {
        calls,
        newer,
        older,
    })
}

/// Up to `limit` matching calls past `from` (or from the end `walk` starts
/// at), returned newest first whichever way they were read.
///
/// The ids are chosen first, from the index alone (`call_org_history_idx`
/// holds the whole order and every filtered column), and only those rows
/// are then read and joined.
#[tracing::instrument(skip_all, fields(org_id))]
async fn walk_calls<'c>(
    db: impl Executor<'c, Database = Any>,
    org_id: &str,
    filter: &CallFilter,
    from: Option<&HistoryKey>,
    walk: Walk,
    limit: i64,
) -> Result<Vec<HistoryCall>, sqlx::Error> {
    let (beyond, direction) = match walk {
        Walk::Older => ("<", "desc"),
        Walk::Newer => (">", "asc"),
    };
    let (conditions, mut binds) =
        filtered_past("page", org_id, filter, from.map(|key| (key, beyond)));
    binds.push(Bind::Int(limit));
    let sql = format!(
        "select {} {RECORD_FROM}
          where call.call_id in (select page.call_id from call page where {conditions}
                                  order by page.created_at {direction}, page.call_id {direction}
                                  limit ${})
          order by call.created_at desc, call.call_id desc",
        *RECORD_COLUMNS,
        binds.len(),
    );
    let rows: Vec<HistoryRow> = bind_all(sqlx::query_as(&sql), binds).fetch_all(db).await?;
    rows.into_iter().map(HistoryCall::try_from).collect()
}

/// Whether a matching call is at `key` or past it on the side a `walk`
/// from `key` leaves behind: is there anything to go back to.
#[tracing::instrument(skip_all, fields(org_id))]
async fn any_at_or_past<'c>(
    db: impl Executor<'c, Database = Any>,
    org_id: &str,
    filter: &CallFilter,
    key: &HistoryKey,
    walk: Walk,
) -> Result<bool, sqlx::Error> {
    let behind = match walk {
        Walk::Older => ">=",
        Walk::Newer => "<=",
    };
    let (conditions, binds) = filtered_past("call", org_id, filter, Some((key, behind)));
    let sql = format!("select count(*) from (select 1 from call where {conditions} limit 1) found");
    let (n,): (i64,) = bind_all(sqlx::query_as(&sql), binds).fetch_one(db).await?;
    Ok(n > 0)
}

/// The next `limit` matching calls in history order (newest first) after
/// `after` (the last row of the previous batch; None to start with the
/// newest): what the CSV export streams. Pages by key, so a batch never
/// overlaps or skips another.
pub async fn calls_after<'c>(
    db: impl Executor<'c, Database = Any>,
    org_id: &str,
    filter: &CallFilter,
    after: Option<&HistoryKey>,
    limit: i64,
) -> Result<Vec<HistoryCall>, sqlx::Error> {
    walk_calls(db, org_id, filter, after, Walk::Older, limit).await
}

/// One call of this organization; None for any other, including another
/// organization's.
#[tracing::instrument(skip_all, fields(org_id))]
pub async fn history_call<'c>(
    db: impl Executor<'c, Database = Any>,
    org_id: &str,
    call_id: &str,
) -> Result<Option<HistoryCall>, sqlx::Error> {
    let row: Option<HistoryRow> = sqlx::query_as(&format!(
        "select {} {RECORD_FROM} where call.org_id = $1 and call.call_id = $2",
        *RECORD_COLUMNS
    ))
    .bind(org_id)
    .bind(call_id)
    .fetch_optional(db)
    .await?;
    row.map(HistoryCall::try_from).transpose()
}

/// Someone the member filter offers.
#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct Caller {
    pub user_id: String,
    pub name: String,
    pub email: String,
}

/// Who the member filter offers: the organization's members, and anyone who
/// made calls in it and has since left (their calls are still listed).
///
/// Who has called is found by walking `call_org_user_created_idx` one person at a
/// time (the next user id after the last one found), so it costs one index
/// step per person, not one row per call: a plain `select user_id from call`
/// read all 100,000 calls of a busy organization on every page.
#[tracing::instrument(skip_all, fields(org_id))]
pub async fn callers<'c>(
    db: impl Executor<'c, Database = Any>,
    org_id: &str,
) -> Result<Vec<Caller>, sqlx::Error> {
    let callers: Vec<Caller> = sqlx::query_as(
        "with recursive caller (user_id) as (
             select min(user_id) from call where org_id = $1
             union all
             select (select min(call.user_id) from call
                      where call.org_id = $1 and call.user_id > caller.user_id)
               from caller where caller.user_id is not null
         )
         select app_user.user_id, app_user.name, app_user.email
           from app_user
          where app_user.user_id in (select user_id from membership where org_id = $1
                                     union
                                     select user_id from caller where user_id is not null)
          order by app_user.name, app_user.email",
    )
    .bind(org_id)
    .fetch_all(db)
    .await?;
    Ok(callers
        .into_iter()
        .map(|caller| Caller {
            name: deleted_account::shown_name(caller.name),
            email: deleted_account::shown_email(caller.email),
            ..caller
        })
        .collect())
}

/// Parses the filters and checks that the member filtered by is someone of
/// the organization: what the page and the CSV export both do first. Also
/// returns who the member filter offers.
pub async fn checked_filter(
    pool: &AnyPool,
    org_id: &str,
    raw: &RawCallFilter,
) -> Result<(CallFilter, Vec<Caller>), AppError> {
    let filter = CallFilter::parse(raw).map_err(|e| AppError::validation(e.field, e.message))?;
    let callers = callers(pool, org_id).await?;
    if let Some(member) = &filter.member {
        if !callers.iter().any(|c| &c.user_id == member) {
            return Err(AppError::validation(
                "member",
                "choose a member of this organization from the list",
            ));
        }
    }
    Ok((filter, callers))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(pairs: &[(&str, &str)]) -> RawCallFilter {
        let get = |key: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| (*v).to_owned())
        };
        RawCallFilter {
            from: get("from"),
            to: get("to"),
            status: get("status"),
            member: get("member"),
            number: get("number"),
        }
    }

    fn parse(status: &str, number: &str) -> Result<CallFilter, FilterError> {
        CallFilter::parse(&raw(&[("status", status), ("number", number)]))
    }

    #[test]
    fn an_empty_filter_matches_everything() {
        let filter = CallFilter::parse(&raw(&[
            ("from", " "),
            ("to", ""),
            ("status", ""),
            ("member", " "),
        ]))
        .unwrap();
        assert_eq!(filter, CallFilter::default());
        assert_eq!(filter.number_pattern(), "%%");
        assert_eq!(filter.status_binds(), ("", 0));
        assert_eq!(
            CallFilter::parse(&RawCallFilter::default()).unwrap(),
            filter
        );
    }

    #[test]
    fn number_searches_keep_only_the_digits() {
        let filter = parse("", " +44 (20) 7183-88.75 ").unwrap();
        assert_eq!(filter.number_digits.as_deref(), Some("442071838875"));
        assert_eq!(filter.number_pattern(), "%442071838875%");
        for bad in ["call mom", "44%", "4_4", "+", "1234567890123456"] {
            assert_eq!(parse("", bad).unwrap_err().field, "number", "{bad:?}");
        }
    }

    #[test]
    fn statuses_are_the_carriers_or_answered() {
        assert_eq!(
            parse("answered", "").unwrap().status_binds(),
            ("completed", 1)
        );
        assert_eq!(
            parse("no-answer", "").unwrap().status_binds(),
            ("no-answer", 0)
        );
        for bad in ["Busy", "no_answer", "done"] {
            assert_eq!(parse(bad, "").unwrap_err().field, "status", "{bad:?}");
        }
    }

    #[test]
    fn page_links_carry_a_position_and_read_back_the_same() {
        let key = HistoryKey {
            created_at: 1_709_251_200,
            call_id: "call_0a1b".into(),
        };
        for position in [
            Position::Newest,
            Position::OlderThan(key.clone()),
            Position::NewerThan(key.clone()),
            Position::Oldest,
        ] {
            let param = position.param();
            assert_eq!(Position::parse(param.as_deref()), Ok(position));
        }
        assert_eq!(
            Position::OlderThan(key).param().as_deref(),
            Some("older.1709251200.call_0a1b")
        );
        assert_eq!(Position::parse(Some("  ")), Ok(Position::Newest));
        // Old page numbers, cut links and anything typed are one clear error.
        for bad in [
            "2",
            "older",
            "older.1709251200",
            "older.1709251200.",
            "older.soon.call_1",
            "sideways.1709251200.call_1",
            "older.1709251200.call_1'--",
            "newest",
        ] {
            assert_eq!(
                Position::parse(Some(bad)).unwrap_err().field,
                "page",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn only_the_filters_in_use_are_in_the_statement() {
        let (sql, binds) = filtered("call", "org_1", &CallFilter::default());
        assert_eq!(
            sql,
            "call.org_id = $1 and call.created_at >= $2 and call.created_at < $3"
        );
        assert_eq!(binds.len(), 3);
        let every = CallFilter::parse(&raw(&[
            ("from", "2024-03-01"),
            ("status", "answered"),
            ("member", "usr_1"),
            ("number", "7183"),
        ]))
        .unwrap();
        let (sql, binds) = filtered("page", "org_1", &every);
        assert_eq!(
            sql,
            "page.org_id = $1 and page.created_at >= $2 and page.created_at < $3 \
             and page.status = $4 and coalesce(page.duration_secs, 0) >= $5 \
             and page.user_id = $6 and page.to_number like $7"
        );
        assert_eq!(binds.len(), 7);
        // A page past a call starts its walk at that call's second.
        let key = HistoryKey {
            created_at: 1_709_251_260,
            call_id: "call_1".into(),
        };
        let (sql, binds) = filtered_past("page", "org_1", &every, Some((&key, "<")));
        assert!(
            sql.ends_with(" and (page.created_at, page.call_id) < ($8, $9)"),
            "{sql}"
        );
        assert!(matches!(binds[2], Bind::Int(1_709_251_261)));
        let (_, binds) = filtered_past("page", "org_1", &every, Some((&key, ">=")));
        assert!(matches!(binds[1], Bind::Int(1_709_251_260)));
        assert!(matches!(binds[2], Bind::Int(end) if end == every.days.bounds().1));
        let busy = CallFilter::parse(&raw(&[("status", "busy")])).unwrap();
        assert!(!filtered("call", "org_1", &busy).0.contains("duration_secs"));
    }

    #[test]
    fn bad_dates_name_their_field() {
        let field = |from, to| {
            CallFilter::parse(&raw(&[("from", from), ("to", to)]))
                .unwrap_err()
                .field
        };
        assert_eq!(field("2024-02-30", ""), "from");
        assert_eq!(field("", "tomorrow"), "to");
        assert_eq!(field("2024-03-02", "2024-03-01"), "to");
        let days = CallFilter::parse(&raw(&[("from", "2024-03-01"), ("to", "2024-03-01")]))
            .unwrap()
            .days;
        assert_eq!(days.bounds(), (1_709_251_200, 1_709_251_200 + 86_400));
    }
}
