-- SPDX-License-Identifier: MIT
--
-- sql/sqlite/001_init.sql - version 1 of the SQLite relay store: messages,
-- their steps, and the schema version.
--
-- Compiled into msgrelay (the Makefile turns sql/sqlite/*.sql into
-- $(BUILD)/gen/sql_sqlite.c); store_sqlite.c applies each file newer than the
-- stored version inside one transaction at open and records its number in
-- schema_version, so a file must not BEGIN or COMMIT itself, and a released
-- file is never edited: changes go in a new NNN_*.sql.
--
-- Times are INTEGER UTC milliseconds since the epoch, 0 = unset. States are
-- the wire names of common/model.h. Strings are '' rather than NULL, except
-- step.last_error.

CREATE TABLE schema_version (
    version      INTEGER PRIMARY KEY,   -- NNN of an applied file
    applied_time INTEGER NOT NULL       -- when it was applied
);

-- One message (a DTM global transaction of type msg). AUTOINCREMENT: ids are
-- never reused, so a list position stays valid.
CREATE TABLE msg (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    gid                TEXT    NOT NULL,
    state              TEXT    NOT NULL
                       CHECK (state IN ('prepared', 'submitted', 'succeed', 'failed')),
    query_prepared     TEXT    NOT NULL DEFAULT '',
    protocol           TEXT    NOT NULL DEFAULT 'http',
    custom_data        TEXT    NOT NULL DEFAULT '',
    branch_headers     TEXT    NOT NULL DEFAULT '',
    concurrent         INTEGER NOT NULL DEFAULT 0,
    wait_result        INTEGER NOT NULL DEFAULT 0,
    timeout_to_fail    INTEGER NOT NULL DEFAULT 0,
    retry_interval     INTEGER NOT NULL DEFAULT 0,
    request_timeout    INTEGER NOT NULL DEFAULT 0,
    delay              INTEGER NOT NULL DEFAULT 0,
    create_time        INTEGER NOT NULL DEFAULT 0,
    update_time        INTEGER NOT NULL DEFAULT 0,
    finish_time        INTEGER NOT NULL DEFAULT 0,
    rollback_time      INTEGER NOT NULL DEFAULT 0,
    next_cron_time     INTEGER NOT NULL DEFAULT 0,
    next_cron_interval INTEGER NOT NULL DEFAULT 0,
    owner              TEXT    NOT NULL DEFAULT '',
    lease_until        INTEGER NOT NULL DEFAULT 0,
    result             TEXT    NOT NULL DEFAULT ''
);

CREATE UNIQUE INDEX msg_gid ON msg (gid);

-- The claim and count_due queries: unfinished messages in next_cron_time
-- order. Partial, so finished messages (the bulk of the table) cost nothing;
-- lease_until in the key lets the lease test skip leased rows without reading
-- them. The queries name it (INDEXED BY msg_due), and their state test must
-- match this WHERE word for word.
CREATE INDEX msg_due ON msg (next_cron_time, lease_until)
    WHERE state IN ('prepared', 'submitted');

-- Listing is newest first by id, which the primary key serves; listing one
-- state uses this.
CREATE INDEX msg_state_id ON msg (state, id);

-- release_owner: the leases one relay holds (its query adds owner <> '').
CREATE INDEX msg_owner ON msg (owner) WHERE owner <> '';

-- One step (a DTM branch op). Unique per (message, branch_id, op), as DTM's
-- trans_branch_op is per (gid, branch_id, op); the index also finds a
-- message's steps.
CREATE TABLE step (
    id          INTEGER PRIMARY KEY,
    msg_id      INTEGER NOT NULL REFERENCES msg (id) ON DELETE CASCADE,
    branch_id   TEXT    NOT NULL,
    op          TEXT    NOT NULL DEFAULT 'action',
    url         TEXT    NOT NULL,
    payload     BLOB    NOT NULL,
    state       TEXT    NOT NULL DEFAULT 'prepared' CHECK (state IN ('prepared', 'succeed')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    create_time INTEGER NOT NULL DEFAULT 0,
    update_time INTEGER NOT NULL DEFAULT 0,
    finish_time INTEGER NOT NULL DEFAULT 0
);

CREATE UNIQUE INDEX step_branch ON step (msg_id, branch_id, op);
