-- Browser-started calls (docs/architecture.md, "Calls"): in Twilio mode the
-- member's browser starts each call with the Voice SDK, presenting a one-shot
-- attempt that start_call created; our voice webhook takes it and dials the
-- destination stored here. The simulated carrier plays the same shape.
-- Same schema as migrations/postgres/0008_call_attempts.sql (bigint there).

-- One per call: the id the browser connects with. Valid until expires_at,
-- taken once (taken_at and parent_sid set together, under the call's lock).
create table call_attempt (
    -- 128 random bits: knowing it is what lets a browser start this call
    attempt_id  text primary key,
    -- one attempt per call
    call_id     text not null constraint call_attempt_call_key unique references call (call_id),
    -- the member whose client identity alone may take it
    user_id     text not null references app_user (user_id),
    -- unix seconds after which it can no longer be taken
    expires_at  integer not null,
    taken_at    integer,
    -- the CallSid of the browser's (parent) leg that took it
    parent_sid  text,
    created_at  integer not null
);

-- The browser's (parent) leg of a call; carrier_sid stays the leg that is
-- followed and billed: the PSTN (child) leg the <Dial> creates.
alter table call add column parent_sid text;
-- the sweeper asks the carrier about a call by its parent leg
create index call_parent_sid_idx on call (parent_sid);

-- The simulated carrier keeps both legs: the browser's (scenario 'client',
-- no parent) and the PSTN leg its <Dial> creates (parent_sid set).
alter table sim_call add column parent_sid text;
-- the <Dial action> the PSTN leg reports to when it ends
alter table sim_call add column dial_action text;
-- the <Dial timeout>: how long the PSTN leg may ring
alter table sim_call add column ring_timeout_secs integer;
-- one PSTN leg per browser leg, so a retried voice request dials once
create unique index sim_call_parent_idx on sim_call (parent_sid);
