-- Call history at 100,000 calls in one organization (docs/performance.md).

-- History pages newest first, ties in the same second broken by id: the
-- whole order is in the index, so the first page reads 25 entries and the
-- last page (read oldest first, then reversed) reads 25 too, and counting an
-- organization's calls in a date range reads only the index.
create index call_org_created_id_idx on call (org_id, created_at, call_id);
-- Its first two columns were this index: one index fewer to write per call.
drop index call_org_created_idx;
-- One member's calls newest first (the dialer's recent list, the history's
-- member filter), and the member filter's list of who has made calls in the
-- organization: one index step per person instead of reading every call.
create index call_org_user_created_idx on call (org_id, user_id, created_at, call_id);
