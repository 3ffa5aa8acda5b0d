-- Calls (docs/architecture.md, "Calls"): one row per dialed call, the carrier
-- events that moved it, and the simulated carrier's own calls.
-- Same schema as migrations/postgres/0006_calls.sql, which uses bigint.

-- The country national numbers are read in and the dialer's default (ISO 3166-1 alpha-2).
alter table org add column country text not null default 'US';

create table call (
    call_id              text primary key,
    org_id               text not null references org (org_id),
    -- the member who dialed
    user_id              text not null references app_user (user_id),
    -- one call per dial click: the form's key, unique within the organization
    client_key           text not null,
    -- E.164 with '+'
    to_number            text not null,
    -- the rate copied when the call started: later deck changes never reprice it
    rate_prefix          text not null,
    country_code         text not null,
    country_name         text not null,
    description          text not null,
    price_per_minute     integer not null check (price_per_minute >= 0),
    connection_fee       integer not null check (connection_fee >= 0),
    initial_increment    integer not null check (initial_increment between 1 and 3600),
    subsequent_increment integer not null check (subsequent_increment between 1 and 3600),
    -- the longest the balance paid for when it started, on an increment boundary
    max_duration_secs    integer not null check (max_duration_secs > 0),
    -- the money reserved for max_duration_secs (ledger hold call:<id>:hold)
    hold_id              text references hold (hold_id),
    carrier              text not null,
    -- the carrier's call id (Twilio CallSid), once it accepted the call
    carrier_sid          text constraint call_carrier_sid_key unique,
    status               text not null check (status in ('queued', 'initiated', 'ringing', 'in-progress',
                             'completed', 'busy', 'no-answer', 'failed', 'canceled')),
    -- the carrier SequenceNumber of the last event applied; older ones are stale
    last_sequence        integer not null default -1,
    -- why it ended (hung_up, callee_hung_up, credits_exhausted, busy, no_answer, canceled, carrier_refused …)
    end_reason           text,
    -- set when someone asked to end it (hang up or cancel), so a racing answer cannot bill beyond the carrier's report
    end_requested_at     integer,
    created_at           integer not null,
    answered_at          integer,
    ended_at             integer,
    -- the carrier's reported talk time, and what was billed for it
    duration_secs        integer,
    billed_seconds       integer,
    cost                 integer,
    ledger_entry_id      text references ledger_entry (ledger_entry_id),
    -- unix ms of the forced hangup, once answered
    hangup_at_ms         integer,
    -- when the forced hangup asked the carrier to end it (lateness = this - hangup_at_ms)
    hangup_sent_at_ms    integer,
    updated_at_ms        integer not null
);
create unique index call_client_key_idx on call (org_id, client_key);
-- history pages: one organization's calls newest first
create index call_org_created_idx on call (org_id, created_at);
-- the sweeper: calls not yet ended
create index call_open_idx on call (ended_at, created_at);
-- live panels poll a user's recently changed calls
create index call_user_updated_idx on call (user_id, updated_at_ms);

-- Every carrier event received, applied or not (stale and duplicate ones are kept for the record).
create table call_event (
    call_event_id   text primary key,
    call_id         text not null references call (call_id),
    status          text not null,
    sequence_number integer not null,
    -- the carrier's own time of the event (unix seconds)
    occurred_at     integer not null,
    duration_secs   integer,
    -- applied, stale or duplicate
    outcome         text not null check (outcome in ('applied', 'stale', 'duplicate')),
    received_at     integer not null
);
create index call_event_call_idx on call_event (call_id, sequence_number);

-- The simulated carrier's side of each call: what a real carrier would know.
create table sim_call (
    sid             text primary key,
    to_number       text not null,
    from_number     text not null,
    status_callback text not null,
    time_limit_secs integer not null,
    -- answers, busy, no-answer, failed, or answers then the callee hangs up after hangup_after_secs
    scenario        text not null,
    hangup_after_secs integer,
    status          text not null,
    next_sequence   integer not null default 0,
    created_at_ms   integer not null,
    answered_at_ms  integer,
    ended_at_ms     integer,
    duration_secs   integer
);
