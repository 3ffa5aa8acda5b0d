-- Subscriptions (README, "Subscriptions"): the organization's Team plan as the
-- payment provider last described it. Rows are only ever recomputed from a
-- whole subscription object (an event's or an API answer's), never
-- incremented; `object_at` is the creation time of the event (or answer) the
-- row was last recomputed from, so an older event changes nothing.
-- Same schema as migrations/sqlite/0016_subscriptions.sql, which uses integer.
create table subscription (
    org_id               text primary key references org (org_id) on delete cascade,
    subscription_id      text not null constraint subscription_subscription_id_key unique,
    customer_id          text not null,
    price_id             text not null,
    plan_interval        text not null check (plan_interval in ('monthly', 'annual')),
    quantity             bigint not null check (quantity >= 0),
    -- the price per seat and interval, in cents, when the object carried it
    unit_amount_cents    bigint check (unit_amount_cents >= 0),
    -- Stripe's status: trialing, active, past_due, unpaid, canceled, ...
    status               text not null,
    cancel_at_period_end bigint not null default 0 check (cancel_at_period_end in (0, 1)),
    -- pause_collection is set (Stripe keeps status=active meanwhile)
    paused               bigint not null default 0 check (paused in (0, 1)),
    pause_resumes_at     bigint,
    current_period_end   bigint,
    trial_end            bigint,
    ended_at             bigint,
    object_at            bigint not null,
    updated_at           bigint not null
);

-- The subscription's invoices whose payment failed, and whether they have
-- been paid since. Paid is final: a late `invoice.payment_failed` for an
-- invoice already paid changes nothing, whatever order the events came in.
create table subscription_invoice (
    invoice_id      text primary key,
    subscription_id text not null,
    org_id          text not null references org (org_id) on delete cascade,
    status          text not null check (status in ('failed', 'paid')),
    -- when a payment of this invoice first failed (event time)
    failed_at       bigint,
    updated_at      bigint not null
);
create index subscription_invoice_subscription_idx on subscription_invoice (subscription_id, status);

-- Mail and reminders about the subscription, each sent once per cause
-- (a failed invoice, a pause ending soon, the plan ending).
create table subscription_notice (
    org_id  text not null references org (org_id) on delete cascade,
    cause   text not null,
    sent_at bigint not null,
    primary key (org_id, cause)
);
