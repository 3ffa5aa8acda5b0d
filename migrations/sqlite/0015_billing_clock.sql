-- The sandbox's test clock (README, "Subscriptions"): how far an
-- organization's billing time runs ahead of the wall clock, as Stripe's test
-- clocks do. Only the sandbox payment provider ever advances it; with Stripe
-- there is no row and billing time is the wall clock. Seconds.
create table billing_clock (
    org_id      text primary key references org (org_id) on delete cascade,
    offset_secs integer not null check (offset_secs >= 0),
    updated_at  integer not null
);
