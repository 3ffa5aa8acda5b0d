-- Accounts, organizations, sessions and the login audit trail.
-- Times are unix seconds (INTEGER) and flags 0/1 INTEGERs, so the same queries
-- run through sqlx::Any on PostgreSQL and SQLite (see migrations/postgres).

create table app_user (
    user_id       text primary key,
    -- normalized (trimmed, lower-cased) by EmailAddress::parse; unique so one mailbox is one account
    email         text not null constraint app_user_email_key unique,
    name          text not null,
    password_hash text not null,
    -- platform operator (super-admin), set only from the command line
    is_operator   integer not null default 0 check (is_operator in (0, 1)),
    created_at    integer not null
);

create table org (
    org_id      text primary key,
    name        text not null,
    -- the organization a sign-up creates for its user
    is_personal integer not null default 0 check (is_personal in (0, 1)),
    created_at  integer not null
);

create table membership (
    org_id     text not null references org (org_id) on delete cascade,
    user_id    text not null references app_user (user_id) on delete cascade,
    role       text not null check (role in ('owner', 'admin', 'member')),
    created_at integer not null,
    -- one role per person per organization
    primary key (org_id, user_id)
);
-- "which organizations does this user belong to" runs on every page
create index membership_user_idx on membership (user_id);

create table session (
    session_id  text primary key,
    data        blob not null,
    expiry_date integer not null
);
-- the expired-session sweep scans by expiry
create index session_expiry_idx on session (expiry_date);

-- Every failed login, kept for the audit trail and read by the throttle.
create table login_failure (
    login_failure_id text primary key,
    email            text not null,
    ip               text not null,
    reason           text not null,
    created_at       integer not null
);
-- the per-email and per-IP throttles count recent failures
create index login_failure_email_idx on login_failure (email, created_at);
create index login_failure_ip_idx on login_failure (ip, created_at);
