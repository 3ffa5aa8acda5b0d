-- The call history's filters answered from one index (docs/performance.md).
--
-- The history walks an organization's calls newest first through
-- call_org_created_id_idx, but a filter (status, talk time, member, number)
-- needed each call's row to be read to test it. This index carries every
-- filtered column after the history's order, so counting the matches and
-- choosing a page's calls can read the index alone (an index-only scan once
-- the table is vacuumed), and only the 25 calls shown are read from the
-- table. SQLite, which has no trigram index for the number search (0019),
-- needs it most; both databases keep the same schema. It begins with the
-- columns of call_org_created_id_idx, so it serves everything that index
-- did, and replaces it.
create index call_org_history_idx
    on call (org_id, created_at, call_id, status, duration_secs, user_id, to_number);
drop index call_org_created_id_idx;
