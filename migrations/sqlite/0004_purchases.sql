-- Buying credits, auto-recharge, the job queue, in-app notices and the mail outbox.
-- Same schema as migrations/postgres/0004_purchases.sql (bigint there).

-- Per-organization wallet preferences. A row appears the first time one is saved.
create table wallet_settings (
    org_id                     text primary key references org (org_id),
    -- in-app banner when available credit falls below this (0 = off)
    low_balance_threshold      integer not null default 0 check (low_balance_threshold >= 0),
    auto_recharge_enabled      integer not null default 0 check (auto_recharge_enabled in (0, 1)),
    -- recharge when available < threshold, back up to target
    auto_recharge_threshold    integer not null default 0 check (auto_recharge_threshold >= 0),
    auto_recharge_target       integer not null default 0 check (auto_recharge_target >= 0),
    -- most auto-recharge may charge in one calendar month (UTC)
    auto_recharge_monthly_cap  integer not null default 0 check (auto_recharge_monthly_cap >= 0),
    -- failures since the last successful recharge; 3 switch it off
    auto_recharge_failures     integer not null default 0,
    -- the payment provider's customer and saved card (from a setup-mode checkout)
    payment_customer_id        text,
    payment_method_id          text,
    updated_at                 integer not null
);

-- Every checkout session we created: which organization, who, for what amount.
create table checkout (
    -- the provider's session id (cs_…): the webhook's business key
    checkout_id     text primary key,
    org_id          text not null references org (org_id),
    provider        text not null check (provider in ('stripe', 'sandbox')),
    -- credits: a purchase; save_card: a setup-mode session for auto-recharge
    purpose         text not null check (purpose in ('credits', 'save_card')),
    amount          integer not null check (amount >= 0),
    created_by      text not null references app_user (user_id),
    -- from the form: a double submit returns the same session instead of a second one
    idempotency_key text not null constraint checkout_idempotency_key_key unique,
    url             text not null,
    created_at      integer not null
);
create index checkout_org_idx on checkout (org_id, created_at);

-- The sandbox's side of a checkout session: what real Stripe would hold.
create table sandbox_session (
    session_id   text primary key,
    mode         text not null check (mode in ('payment', 'setup')),
    amount_cents integer not null,
    -- JSON object, sent back in the event like Stripe's metadata
    metadata     text not null,
    customer_id  text,
    success_url  text not null,
    cancel_url   text not null,
    status       text not null check (status in ('open', 'complete')),
    -- the card a setup session saved (sandbox payment methods remember their number's outcome)
    card_last4   text,
    created_at   integer not null
);

-- One row per automatic charge of the saved card.
create table auto_recharge_attempt (
    attempt_id  text primary key,
    org_id      text not null references org (org_id),
    amount      integer not null check (amount > 0),
    status      text not null check (status in ('pending', 'succeeded', 'failed')),
    -- the provider's payment intent, once known
    payment_ref text,
    failure     text,
    created_at  integer not null,
    finished_at integer
);
-- the monthly cap sums this month's attempts; only one attempt may be pending per organization
create index auto_recharge_attempt_org_idx on auto_recharge_attempt (org_id, created_at);
create unique index auto_recharge_one_pending_idx on auto_recharge_attempt (org_id) where status = 'pending';

-- The persistent job queue (server/src/jobs/): survives restarts, runs on any instance.
create table job (
    job_id       text primary key,
    kind         text not null,
    -- JSON arguments
    payload      text not null,
    -- at most one unfinished job per key (e.g. one hangup per call); cleared when it finishes
    dedupe_key   text constraint job_dedupe_key_key unique,
    -- unix milliseconds: hangups are placed just before an increment boundary
    run_at_ms    integer not null,
    attempts     integer not null default 0,
    -- a worker's claim; an expired claim (the worker died) may be taken again
    locked_by    text,
    locked_until_ms integer,
    last_error   text,
    finished_at  integer,
    created_at   integer not null
);
-- workers look for due, unfinished jobs
create index job_due_idx on job (finished_at, run_at_ms);

-- Messages for an organization's members, shown as banners until dismissed.
create table notice (
    notice_id    text primary key,
    org_id       text not null references org (org_id),
    kind         text not null,
    message      text not null,
    created_at   integer not null,
    dismissed_at integer
);
create index notice_org_idx on notice (org_id, dismissed_at);

-- Outgoing mail. Without SMTP_URL it stays here, where operators can read it.
create table outbox_email (
    email_id   text primary key,
    to_address text not null,
    subject    text not null,
    body       text not null,
    created_at integer not null,
    sent_at    integer
);
