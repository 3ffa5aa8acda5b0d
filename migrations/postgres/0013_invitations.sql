-- Invitations to join an organization. Only the SHA-256 of the random token
-- in the link is stored; a resend replaces it (the old link stops working).
-- An invitation is used once (accepted_at), can be revoked, and expires
-- seven days after it was last sent. email_id is the outbox message that
-- carried the current link: its status (queued, sent, failed) is shown.
create table invitation (
    invitation_id text primary key,
    org_id        text not null references org (org_id) on delete cascade,
    email         text not null,
    role          text not null check (role in ('owner', 'admin', 'member')),
    token_hash    text not null constraint invitation_token_key unique,
    invited_by    text references app_user (user_id),
    email_id      text,
    created_at    bigint not null,
    expires_at    bigint not null,
    accepted_at   bigint,
    accepted_by   text references app_user (user_id),
    revoked_at    bigint
);
-- the members section lists an organization's invitations, newest first
create index invitation_org_idx on invitation (org_id, created_at);

-- Seats: an operator-set limit on members plus pending invitations (null:
-- unlimited). The subscriptions work will set it from the plan's seats.
alter table org add column seat_limit bigint;
