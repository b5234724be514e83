-- SPDX-License-Identifier: MIT
--
-- sql/sqlite/008_ordering.sql - ordered delivery per key: a message's
-- ordering key and its place in the key's order, and the next place of each
-- key.
--
-- A keyed message gets its place (order_pos, 1, 2, ...) in the transaction
-- that makes it submitted, from its key's order_key row; 0 = no place yet
-- (unkeyed, or still prepared). Only the lowest place of a key not yet
-- finished (submitted or parked) is ever delivered.

ALTER TABLE msg ADD COLUMN ordering_key TEXT NOT NULL DEFAULT '';
ALTER TABLE msg ADD COLUMN order_pos INTEGER NOT NULL DEFAULT 0;

-- The places given so far per key: next_pos is the last one given.
CREATE TABLE order_key (
    k        TEXT    PRIMARY KEY,
    next_pos INTEGER NOT NULL
) WITHOUT ROWID;

-- The unfinished keyed messages in their keys' order: the head of a key and
-- the predecessor of a message. Partial, so unkeyed and finished messages
-- cost nothing; the queries repeat its WHERE word for word (ORDER_LIVE).
CREATE INDEX msg_order ON msg (ordering_key, order_pos)
    WHERE ordering_key <> '' AND state IN ('submitted', 'parked');
