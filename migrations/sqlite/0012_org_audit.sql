-- Each organization's audit trail: who invited, removed or changed the role
-- of a member, changed a spending cap or a country rule, and when. Rows are
-- only ever inserted. The actor is kept as a user id (null for the system),
-- so an erased account shows as "deleted user"; detail is the sentence shown.
create table org_audit (
    audit_id      text primary key,
    org_id        text not null references org (org_id) on delete cascade,
    actor_user_id text references app_user (user_id),
    action        text not null,
    detail        text not null,
    -- milliseconds, so changes made one after another list in their order
    created_at_ms integer not null
);
-- the settings page reads an organization's newest entries
create index org_audit_org_idx on org_audit (org_id, created_at_ms);
