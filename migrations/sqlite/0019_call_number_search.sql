-- PostgreSQL's migration 0019 adds a trigram index for the call history's
-- number search. SQLite has no such index (FTS5's trigram tokenizer would
-- need a shadow table kept in step with every call); its search reads the
-- organization's calls in the date range from the covering index, measured
-- at 36 ms for 100,000 calls, so the number is kept for both databases and
-- nothing changes here.
select 1;
