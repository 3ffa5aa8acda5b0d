-- The payment sandbox's side of subscriptions (README, "Subscriptions"): what
-- real Stripe would hold for the Team plan when no STRIPE_SECRET_KEY is set.
-- Only the sandbox provider (app/src/server/providers/sandbox_billing/) reads
-- or writes these tables; the app's own subscription state comes from the
-- events it sends. Money in integer cents, times in unix seconds on the
-- organization's billing clock (0015_billing_clock.sql) unless said otherwise.
-- Same schema as migrations/sqlite/0017_sandbox_billing.sql.

-- Checkout sessions gain a subscription mode: which price and how many seats.
alter table sandbox_session drop constraint sandbox_session_mode_check;
alter table sandbox_session add constraint sandbox_session_mode_check
    check (mode in ('payment', 'setup', 'subscription'));
-- subscription mode only: the plan price and the seats it buys
alter table sandbox_session add column price_id text;
alter table sandbox_session add column quantity bigint;
alter table sandbox_session add constraint sandbox_session_subscription_check
    check (mode <> 'subscription' or (price_id is not null and quantity >= 1));

-- A sandbox customer and the test card it pays with: pm_card_visa pays,
-- pm_card_chargeDeclined declines every charge after the first checkout.
create table sandbox_customer (
    customer_id       text primary key,
    org_id            text not null references org (org_id) on delete cascade,
    payment_method_id text not null check (payment_method_id in ('pm_card_visa', 'pm_card_chargeDeclined')),
    card_last4        text not null,
    -- wall clock
    updated_at        bigint not null
);

-- A subscription to one plan price, per seat.
create table sandbox_subscription (
    subscription_id      text primary key,
    org_id               text not null references org (org_id) on delete cascade,
    customer_id          text not null references sandbox_customer (customer_id) on delete cascade,
    -- the subscription's one item (si_…): its id stays the same across changes
    item_id              text not null,
    price_id             text not null,
    billing_interval     text not null check (billing_interval in ('month', 'year')),
    unit_amount_cents    bigint not null check (unit_amount_cents > 0),
    quantity             bigint not null check (quantity >= 1),
    status               text not null check (status in ('active', 'past_due', 'canceled')),
    cancel_at_period_end bigint not null default 0 check (cancel_at_period_end in (0, 1)),
    -- pause_collection (behavior void): renewals while paused charge nothing
    paused               bigint not null default 0 check (paused in (0, 1)),
    pause_resumes_at     bigint,
    current_period_start bigint not null,
    current_period_end   bigint not null,
    canceled_at          bigint,
    ended_at             bigint,
    -- not a foreign key: the subscription and its first invoice refer to each other
    latest_invoice_id    text,
    -- also the billing cycle anchor: every period ends on its day of the month
    created_at           bigint not null
);
-- the test clock acts on an organization's newest subscription
create index sandbox_subscription_org_idx on sandbox_subscription (org_id, created_at);
create index sandbox_subscription_customer_idx on sandbox_subscription (customer_id, created_at);

-- A subscription's invoices: the first (subscription_create) and one per renewal.
create table sandbox_invoice (
    invoice_id      text primary key,
    subscription_id text not null references sandbox_subscription (subscription_id) on delete cascade,
    amount_cents    bigint not null check (amount_cents >= 0),
    status          text not null check (status in ('open', 'paid')),
    billing_reason  text not null check (billing_reason in ('subscription_create', 'subscription_cycle')),
    attempt_count   bigint not null default 0 check (attempt_count >= 0),
    -- when a charge of it first failed: the payment grace period counts from here
    first_failed_at bigint,
    created_at      bigint not null,
    period_start    bigint not null,
    period_end      bigint not null
);
create index sandbox_invoice_subscription_idx on sandbox_invoice (subscription_id, created_at);

-- A Billing Portal session: its unguessable id is the capability, as with Stripe.
create table sandbox_portal_session (
    portal_session_id text primary key,
    customer_id       text not null references sandbox_customer (customer_id) on delete cascade,
    org_id            text not null references org (org_id) on delete cascade,
    return_url        text not null,
    -- wall clock
    created_at        bigint not null
);

-- Stripe's Idempotency-Key for the sandbox's subscription calls: a repeated
-- key answers what the first request answered and changes nothing again.
create table sandbox_idempotency (
    idempotency_key text primary key,
    -- the call and its parameters: the same key with others is refused
    request         text not null,
    -- JSON
    response        text not null,
    -- wall clock
    created_at      bigint not null
);
