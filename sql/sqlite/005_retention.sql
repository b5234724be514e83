-- SPDX-License-Identifier: MIT
--
-- sql/sqlite/005_retention.sql - version 5 of the SQLite relay store: what
-- retention (`serve --retention`) needs to delete finished messages cheaply,
-- and the lease that lets one relay at a time do it.
--
-- Applied by store_sqlite.c at open, after 004, in the same transaction as
-- any other pending file; never edited once released.
--
-- Retention deletes succeed messages by finish_time and failed ones by
-- rollback_time (the time each state records), oldest first. Two partial
-- indexes, so a message has an entry only once it is final (at most one of
-- the two), unfinished and parked messages cost nothing, and a pass reads
-- only the rows it deletes. The retention query names them (INDEXED BY) and
-- its state test must match their WHERE word for word.
CREATE INDEX msg_succeed_done ON msg (finish_time) WHERE state = 'succeed';
CREATE INDEX msg_failed_done ON msg (rollback_time) WHERE state = 'failed';

-- One row per periodic job that only one relay sharing this store may run
-- at a time (name 'retention'): owner is the relay id holding it until
-- lease_until (UTC milliseconds). Taken when it lapsed or is the taker's
-- own; renewed in each batch's transaction.
CREATE TABLE job_lease (
    name        TEXT    PRIMARY KEY,
    owner       TEXT    NOT NULL DEFAULT '',
    lease_until INTEGER NOT NULL DEFAULT 0
);

INSERT INTO job_lease (name) VALUES ('retention');
