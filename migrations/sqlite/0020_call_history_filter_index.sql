-- The call history's filters answered from one index (docs/performance.md).
--
-- The history walks an organization's calls newest first through
-- call_org_created_id_idx, but a filter (status, talk time, member, number)
-- needed each call's row to be read to test it: a number search of 100,000
-- calls read 100,000 rows, as SQLite has no trigram index (0019). This
-- index carries every filtered column after the history's order, so
-- counting the matches and choosing a page's calls read the index alone,
-- and only the 25 calls shown are read from the table. PostgreSQL gets the
-- same index (the schemas stay the same). It begins with the columns of
-- call_org_created_id_idx, so it serves everything that index did, and
-- replaces it.
create index call_org_history_idx
    on call (org_id, created_at, call_id, status, duration_secs, user_id, to_number);
drop index call_org_created_id_idx;
