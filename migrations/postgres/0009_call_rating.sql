-- How the member rated a call once it ended (1 to 5 stars), shown on the
-- call's page. One rating per call, changeable: the latest one counts.
-- Same schema as migrations/sqlite/0009_call_rating.sql (integer there).

alter table call add column rating bigint check (rating between 1 and 5);
-- who gave the rating (the member who placed the call, or an owner or admin)
alter table call add column rated_by text references app_user (user_id);
-- when it was last given, unix seconds
alter table call add column rated_at bigint;
