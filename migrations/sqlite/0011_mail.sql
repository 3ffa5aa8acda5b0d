-- Mail is really sent (over SMTP when SMTP_URL is set): every outbox message
-- has a status (queued, sent, failed), the attempts made, the last error,
-- and an optional HTML part next to its plain-text body.
alter table outbox_email add column html_body text;
alter table outbox_email add column status text not null default 'queued'
    check (status in ('queued', 'sent', 'failed'));
alter table outbox_email add column attempts integer not null default 0;
alter table outbox_email add column last_error text;
update outbox_email set status = 'sent' where sent_at is not null;
-- the operators' list is newest first
create index outbox_email_created_idx on outbox_email (created_at);

-- Sessions know whose they are, so a password reset can end every one of them.
alter table session add column user_id text;
create index session_user_idx on session (user_id);

-- Password reset links: only the SHA-256 of the random token is stored; a
-- row is used once (used_at) and expires 30 minutes after it was made.
create table password_reset (
    token_hash text primary key,
    user_id    text not null references app_user (user_id),
    created_at integer not null,
    expires_at integer not null,
    used_at    integer
);
create index password_reset_user_idx on password_reset (user_id);
