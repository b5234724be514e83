-- SPDX-License-Identifier: MIT
--
-- sql/sqlite/004_parked.sql - version 4 of the SQLite relay store: parked
-- messages (README "When delivery keeps failing").
--
-- - msg.state may be 'parked': a message whose step or back-check failed
--   retry_limit times. It is not in msg_due (unfinished means prepared or
--   submitted), never called, and leaves that state only by a redrive or a
--   forceStop.
-- - retry_limit: the message's own limit of failed attempts (DTM's field);
--   0 = the relay's --retry-limit.
-- - query_attempts: back-checks that ended in an error since the message was
--   prepared or last redriven.
-- - parked_from: the state a parked message was parked from ('prepared' or
--   'submitted'), where a redrive puts it back; '' otherwise.
--
-- SQLite cannot change a CHECK constraint in place, so msg is built anew and
-- its rows copied (ids kept). The connection has foreign_keys on and this file
-- runs inside the migration's transaction, where that cannot be switched off;
-- dropping msg would then delete every step (ON DELETE CASCADE). So step is
-- rebuilt too, child first: its copy is made and the old one dropped before
-- msg is, then the new tables take the old names (ALTER TABLE ... RENAME also
-- renames step_new's reference to msg_new). Applied once, in the same
-- transaction as any other pending file; never edited once released.

CREATE TABLE msg_new (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    gid                TEXT    NOT NULL,
    state              TEXT    NOT NULL
                       CHECK (state IN ('prepared', 'submitted', 'succeed', 'failed', 'parked')),
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
    result             TEXT    NOT NULL DEFAULT '',
    retry_limit        INTEGER NOT NULL DEFAULT 0,
    query_attempts     INTEGER NOT NULL DEFAULT 0,
    parked_from        TEXT    NOT NULL DEFAULT ''
);

INSERT INTO msg_new (id, gid, state, query_prepared, protocol, custom_data, branch_headers,
                     concurrent, wait_result, timeout_to_fail, retry_interval, request_timeout,
                     delay, create_time, update_time, finish_time, rollback_time, next_cron_time,
                     next_cron_interval, owner, lease_until, result)
    SELECT id, gid, state, query_prepared, protocol, custom_data, branch_headers, concurrent,
           wait_result, timeout_to_fail, retry_interval, request_timeout, delay, create_time,
           update_time, finish_time, rollback_time, next_cron_time, next_cron_interval, owner,
           lease_until, result
    FROM msg;

CREATE TABLE step_new (
    id          INTEGER PRIMARY KEY,
    msg_id      INTEGER NOT NULL REFERENCES msg_new (id) ON DELETE CASCADE,
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

INSERT INTO step_new SELECT id, msg_id, branch_id, op, url, payload, state, attempts, last_error,
                            create_time, update_time, finish_time
    FROM step;

-- keep AUTOINCREMENT's high-water mark: ids are never reused, also across this copy
UPDATE sqlite_sequence SET seq = max(seq, (SELECT coalesce(max(seq), 0) FROM sqlite_sequence
                                           WHERE name = 'msg'))
    WHERE name = 'msg_new';

DROP TABLE step;
DROP TABLE msg;
ALTER TABLE msg_new RENAME TO msg;
ALTER TABLE step_new RENAME TO step;

CREATE UNIQUE INDEX msg_gid ON msg (gid);
-- as in 001: the claim's index; its WHERE must match the queries' word for word
CREATE INDEX msg_due ON msg (next_cron_time, lease_until)
    WHERE state IN ('prepared', 'submitted');
CREATE INDEX msg_state_id ON msg (state, id);
CREATE INDEX msg_owner ON msg (owner) WHERE owner <> '';
CREATE UNIQUE INDEX step_branch ON step (msg_id, branch_id, op);
