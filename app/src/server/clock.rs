//! Time as the database stores it: whole unix seconds.

pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}
