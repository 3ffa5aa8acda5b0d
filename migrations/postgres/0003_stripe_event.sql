-- Every verified Stripe webhook event, stored first and processed second
-- (server/src/webhooks/stripe.rs). Stripe retries for days and in any order.

create table stripe_event (
    -- Stripe's event id (evt_…): a redelivery finds its row instead of acting twice
    event_id     text primary key,
    event_type   text not null,
    payload      text not null,
    received_at  bigint not null,
    -- set in the same transaction as the event's effect
    processed_at bigint,
    -- what it did ("credited", "ignored: …") or, after a failure, why it failed
    outcome      text
);
-- operators look for events that have not been processed
create index stripe_event_unprocessed_idx on stripe_event (processed_at);
