-- The rate deck: what a call to each destination prefix costs (the rating
-- rules are app/src/domain/rating.rs). Replaced as a whole by `phonebooth rates import`;
-- calls copy the rate they started with, so nothing references these rows.
-- Same schema as migrations/sqlite/0005_rates.sql.

create table rate (
    -- E.164 digits without '+' ("44", "447"); the longest one a number starts
    -- with wins. The primary key is also the index that lookup probes: it asks
    -- for every prefix of the dialed number by equality (server/db/rates.rs).
    prefix               text primary key
                         check (length(prefix) between 1 and 15 and prefix ~ '^[0-9]+$'),
    -- ISO 3166-1 alpha-2, upper case ("GB")
    country_code         text not null check (length(country_code) = 2 and country_code = upper(country_code)),
    country_name         text not null check (country_name <> ''),
    description          text not null,
    -- micro-dollars per minute and per answered call; never negative
    price_per_minute     bigint not null check (price_per_minute >= 0),
    connection_fee       bigint not null check (connection_fee >= 0),
    -- billing increments in seconds (60/60, 30/6, 1/1 …): 1 to 3600, as the
    -- rating code divides by them
    initial_increment    bigint not null check (initial_increment between 1 and 3600),
    subsequent_increment bigint not null check (subsequent_increment between 1 and 3600),
    -- premium-rate and fraud-prone ranges: calls are refused, with the reason shown
    blocked              bigint not null default 0 check (blocked in (0, 1)),
    -- a blocked prefix always says why; an open one has no reason
    blocked_reason       text check ((blocked = 1) = (blocked_reason is not null and blocked_reason <> '')),
    created_at           bigint not null
);
