-- Subscription checkouts we created (README, "Subscriptions"): one per
-- subscribe form, so a double submit returns the same Checkout Session. The
-- subscription itself is recorded from the provider's events.
create table billing_checkout (
    checkout_id     text primary key,
    org_id          text not null references org (org_id) on delete cascade,
    created_by      text not null references app_user (user_id),
    plan_interval   text not null check (plan_interval in ('monthly', 'annual')),
    seats           bigint not null check (seats >= 1),
    idempotency_key text not null constraint billing_checkout_idempotency_key_key unique,
    url             text not null,
    created_at      bigint not null
);
