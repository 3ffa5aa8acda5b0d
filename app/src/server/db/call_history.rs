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
/// `call_org_created_id_idx` (docs/performance.md has the query plans).
/// There are at most 16 shapes; each is prepared once per connection.
fn filtered(table: &str, org_id: &str, filter: &CallFilter) -> (String, Vec<Bind>) {
    let (start, end) = filter.days.bounds();
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

/// How many calls the filter matches.
#[tracing::instrument(skip_all, fields(org_id))]
pub async fn count_calls<'c>(
    db: impl Executor<'c, Database = Any>,
    org_id: &str,
    filter: &CallFilter,
) -> Result<i64, sqlx::Error> {
    let (conditions, binds) = filtered("call", org_id, filter);
    let sql = format!("select count(*) from call where {conditions}");
    let (n,): (i64,) = bind_all(sqlx::query_as(&sql), binds).fetch_one(db).await?;
    Ok(n)
}

/// Which rows of the history a page holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageRows {
    /// `limit` rows after skipping `offset` rows, counting from the newest.
    FromNewest { offset: i64, limit: i64 },
    /// `limit` rows after skipping `offset` rows, counting from the oldest.
    FromOldest { offset: i64, limit: i64 },
}

impl PageRows {
    /// Rows `offset .. offset + limit` (newest first) of a history of
    /// `total` rows, counted from whichever end is nearer: the last page of
    /// 100,000 calls skips nothing, read oldest first, instead of 99,975.
    pub fn of(total: i64, offset: i64, limit: i64) -> Self {
        let limit_here = limit.min(total - offset).max(0);
        let from_oldest = total - offset - limit_here;
        if offset > from_oldest {
            PageRows::FromOldest {
                offset: from_oldest,
                limit: limit_here,
            }
        } else {
            PageRows::FromNewest { offset, limit }
        }
    }
}

/// One page of matching calls, newest first; calls started in the same second
/// are ordered by id so pages never overlap or skip.
///
/// The page's ids are chosen first, from the index alone when no filter
/// needs the row (`call_org_created_id_idx` holds the whole order), and only
/// those rows are then read and joined: skipped rows cost an index step, not
/// a row read and two joins.
#[tracing::instrument(skip_all, fields(org_id))]
pub async fn calls_page<'c>(
    db: impl Executor<'c, Database = Any>,
    org_id: &str,
    filter: &CallFilter,
    rows: PageRows,
) -> Result<Vec<HistoryCall>, sqlx::Error> {
    let (direction, offset, limit) = match rows {
        PageRows::FromNewest { offset, limit } => ("desc", offset, limit),
        PageRows::FromOldest { offset, limit } => ("asc", offset, limit),
    };
    let (conditions, mut binds) = filtered("page", org_id, filter);
    let sql = format!(
        "select {} {RECORD_FROM}
          where call.call_id in (select page.call_id from call page where {conditions}
                                  order by page.created_at {direction}, page.call_id {direction}
                                  limit ${} offset ${})
          order by call.created_at desc, call.call_id desc",
        *RECORD_COLUMNS,
        binds.len() + 1,
        binds.len() + 2,
    );
    binds.push(Bind::Int(limit));
    binds.push(Bind::Int(offset));
    let rows: Vec<HistoryRow> = bind_all(sqlx::query_as(&sql), binds).fetch_all(db).await?;
    rows.into_iter().map(HistoryCall::try_from).collect()
}

/// The next page of matching calls in history order (newest first) after
/// `after` (the `(created_at, call_id)` of the last row of the previous
/// page; None for the first page): what the CSV export streams. Pages by
/// key, so a page never overlaps or skips another.
#[tracing::instrument(skip_all, fields(org_id))]
pub async fn calls_after<'c>(
    db: impl Executor<'c, Database = Any>,
    org_id: &str,
    filter: &CallFilter,
    after: Option<(i64, String)>,
    limit: i64,
) -> Result<Vec<HistoryCall>, sqlx::Error> {
    let (after_time, after_id) = after.unwrap_or((i64::MAX, String::new()));
    let (conditions, mut binds) = filtered("call", org_id, filter);
    let n = binds.len();
    let sql = format!(
        "select {} {RECORD_FROM} where {conditions}
           and (call.created_at < ${a} or (call.created_at = ${a} and call.call_id < ${b}))
         order by call.created_at desc, call.call_id desc
         limit ${c}",
        *RECORD_COLUMNS,
        a = n + 1,
        b = n + 2,
        c = n + 3,
    );
    binds.extend([
        Bind::Int(after_time),
        Bind::Text(after_id),
        Bind::Int(limit),
    ]);
    let rows: Vec<HistoryRow> = bind_all(sqlx::query_as(&sql), binds).fetch_all(db).await?;
    rows.into_iter().map(HistoryCall::try_from).collect()
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
    fn a_page_is_read_from_the_nearer_end() {
        use PageRows::{FromNewest, FromOldest};
        assert_eq!(
            PageRows::of(0, 0, 25),
            FromNewest {
                offset: 0,
                limit: 25
            }
        );
        assert_eq!(
            PageRows::of(30, 0, 25),
            FromNewest {
                offset: 0,
                limit: 25
            }
        );
        // The last 5 of 30 are the 5 oldest.
        assert_eq!(
            PageRows::of(30, 25, 25),
            FromOldest {
                offset: 0,
                limit: 5
            }
        );
        // Rows 25..50 of 60 are rows 10..35 counted from the oldest.
        assert_eq!(
            PageRows::of(60, 25, 25),
            FromOldest {
                offset: 10,
                limit: 25
            }
        );
        assert_eq!(
            PageRows::of(100_000, 99_975, 25),
            FromOldest {
                offset: 0,
                limit: 25
            }
        );
        assert_eq!(
            PageRows::of(100_000, 25_000, 25),
            FromNewest {
                offset: 25_000,
                limit: 25
            }
        );
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
