-- SPDX-License-Identifier: MIT
--
-- sql/postgres/002_ordering.sql - ordered delivery per key: a message's
-- ordering key and its place in the key's order, and the last place given
-- per key (as sql/mysql/009_ordering.sql and sql/sqlite/008_ordering.sql).
--
-- A keyed message gets its place (order_pos, 1, 2, ...) in the transaction
-- that makes it submitted, from its key's order_key row, whose row lock holds
-- until the commit: the order of places is the order of commits. 0 = no place
-- yet (unkeyed, or still prepared). Only the lowest place of a key not yet
-- finished (submitted or parked) is ever delivered.

ALTER TABLE msg ADD COLUMN IF NOT EXISTS ordering_key VARCHAR(128) NOT NULL DEFAULT '';
ALTER TABLE msg ADD COLUMN IF NOT EXISTS order_pos BIGINT NOT NULL DEFAULT 0;

-- The places given so far per key: next_pos is the last one given.
CREATE TABLE IF NOT EXISTS order_key (
    k        VARCHAR(128) NOT NULL,
    next_pos BIGINT       NOT NULL,
    PRIMARY KEY (k)
);

-- The unfinished keyed messages in their keys' order: the head of a key and
-- the predecessor of a message. Partial, so unkeyed and finished messages
-- cost nothing; the queries repeat its WHERE (ORDER_LIVE in store_pg_int.h).
CREATE INDEX IF NOT EXISTS msg_order ON msg (ordering_key, order_pos)
    WHERE ordering_key <> '' AND state IN ('submitted', 'parked');
