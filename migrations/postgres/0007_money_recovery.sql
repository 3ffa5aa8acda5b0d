-- Recovery paths for money coming in and going back out (docs/architecture.md,
-- "Stripe pipeline" and "Auto-recharge").
-- Same schema as migrations/sqlite/0007_money_recovery.sql (integer there).

-- When the setup that saved the current card was created at the provider
-- (the SetupIntent's `created`, unix seconds): an older setup delivered late
-- never replaces a newer card. Null for cards saved before this column.
alter table wallet_settings add column payment_method_created_at bigint;

-- Every payment we credited, by its payment intent (a credit checkout's, from
-- checkout.session.completed, or an auto-recharge charge's): how a refund or a
-- dispute, which name only the charge and its payment intent, finds the
-- organization it takes money back from.
create table credited_payment (
    payment_intent_id text primary key,
    org_id            text not null references org (org_id),
    -- the ledger entry that credited it (stripe:checkout:… or stripe:payment_intent:…)
    ledger_key        text not null,
    amount            bigint not null check (amount > 0),
    created_at        bigint not null
);

-- Set when a refund or dispute took the balance below what live calls hold:
-- the organization owes money and may not start calls until a credit brings
-- balance minus holds back to zero or more (then it is cleared).
alter table wallet add column in_debt_since bigint;
