-- Spending controls (README, "Spending controls"): what an organization lets
-- its members' calls spend. Money in micro-dollars, times in unix seconds.
-- Same schema as migrations/postgres/0014_spending_controls.sql, which uses bigint.

-- One row per organization that changed a control; none means the defaults
-- (no default cap, 60-minute calls, every country).
create table spending_policy (
    org_id           text primary key references org (org_id) on delete cascade,
    -- the cap a member gets when they join; null: no cap
    default_cap      integer check (default_cap >= 0),
    -- the longest one call may last, whatever the balance
    max_call_minutes integer not null default 60 check (max_call_minutes between 1 and 240),
    -- which destination countries may be called: all, only the listed (allow), all but the listed (deny)
    country_mode     text not null default 'all' check (country_mode in ('all', 'allow', 'deny')),
    updated_at       integer not null
);

-- The countries of an organization's allow or deny list (ISO 3166-1 alpha-2).
create table spending_country (
    org_id       text not null references org (org_id) on delete cascade,
    country_code text not null,
    primary key (org_id, country_code)
);

-- A member's own monthly cap; null: no cap. A member without a row has the
-- organization's current default cap. Changing the default first gives every
-- member without a row the old default, so existing members keep theirs and
-- only people who join later get the new one. Leaving the organization
-- deletes the row with the membership.
create table member_cap (
    org_id     text not null,
    user_id    text not null,
    cap        integer check (cap >= 0),
    updated_at integer not null,
    primary key (org_id, user_id),
    foreign key (org_id, user_id) references membership (org_id, user_id) on delete cascade
);

-- A member's spend this month: their calls that ended since the month began.
create index call_org_user_ended_idx on call (org_id, user_id, ended_at);
