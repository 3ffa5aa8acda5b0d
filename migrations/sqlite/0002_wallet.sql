-- The wallet: one per organization, an append-only ledger and holds.
-- Money is integer micro-dollars (1 USD = 1,000,000). See app/src/server/db/ledger.rs.
-- Same schema as migrations/postgres/0002_wallet.sql; only the trigger syntax differs.

create table wallet (
    org_id     text primary key references org (org_id),
    -- always equals the sum of this organization's ledger entries
    balance    integer not null default 0,
    -- always equals the sum of this organization's open holds
    held       integer not null default 0 check (held >= 0),
    updated_at integer not null
);

create table ledger_entry (
    ledger_entry_id text primary key,
    org_id          text not null references org (org_id),
    kind            text not null check (kind in ('purchase', 'call_charge', 'refund', 'grant', 'adjustment', 'auto_recharge')),
    -- signed: credits are positive, charges negative
    amount          integer not null check (amount <> 0),
    balance_after   integer not null,
    -- who or what caused it: user:<id>, operator:<id>, stripe:<event id>, carrier:<call sid>, system
    actor           text not null,
    description     text not null,
    -- derived from the cause (stripe:checkout:<session id>, call:<sid>:charge …): one cause moves money once
    idempotency_key text not null constraint ledger_entry_idempotency_key_key unique,
    created_at      integer not null
);
-- history pages read one organization's entries newest first
create index ledger_entry_org_idx on ledger_entry (org_id, created_at);

-- Entries are never changed or removed: corrections are new entries.
create trigger ledger_entry_no_update before update on ledger_entry
begin
    select raise(abort, 'ledger entries are append-only');
end;
create trigger ledger_entry_no_delete before delete on ledger_entry
begin
    select raise(abort, 'ledger entries are append-only');
end;

create table hold (
    hold_id         text primary key,
    org_id          text not null references org (org_id),
    amount          integer not null check (amount > 0),
    status          text not null check (status in ('open', 'settled', 'released')),
    -- one hold per cause (call:<id>:hold): a retried authorization reserves once
    idempotency_key text not null constraint hold_idempotency_key_key unique,
    expires_at      integer not null,
    created_at      integer not null,
    closed_at       integer,
    -- the charge that settled it, if any
    ledger_entry_id text references ledger_entry (ledger_entry_id)
);
-- available balance sums an organization's open holds; the expiry sweep scans open ones
create index hold_org_status_idx on hold (org_id, status);
create index hold_open_expiry_idx on hold (status, expires_at);
