-- SPDX-License-Identifier: MIT
--
-- sql/mysql/001_init.sql - version 1 of the MySQL/MariaDB relay store:
-- messages, their steps, and the schema version. Same columns and meaning as
-- sql/sqlite/001_init.sql.
--
-- Compiled into msgrelay (the Makefile turns sql/mysql/*.sql into
-- $(BUILD)/gen/sql_mysql.c) and applied by `msgrelay migrate` (or
-- `msgrelay serve --migrate`), never silently at open. DDL commits by itself
-- in MySQL, so a file cannot be one transaction: every statement must be safe
-- to run again (IF NOT EXISTS) should a migration stop half-way. A released
-- file is never edited: changes go in a new NNN_*.sql.
--
-- Times are BIGINT UTC milliseconds since the epoch, 0 = unset. States are the
-- wire names of common/model.h. Strings are '' rather than NULL, except
-- step.last_error. Text compares byte for byte (utf8mb4_bin), as in SQLite:
-- gids are case-sensitive.

CREATE TABLE IF NOT EXISTS schema_version (
    version      INT    NOT NULL PRIMARY KEY,   -- NNN of an applied file
    applied_time BIGINT NOT NULL                -- when it was applied
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- One message (a DTM global transaction of type msg). AUTO_INCREMENT ids are
-- not reused by InnoDB while the server runs, so a list position stays valid.
CREATE TABLE IF NOT EXISTS msg (
    id                 BIGINT       NOT NULL AUTO_INCREMENT,
    gid                VARCHAR(128) NOT NULL,
    state              VARCHAR(16)  NOT NULL,
    query_prepared     MEDIUMTEXT   NOT NULL,
    protocol           VARCHAR(16)  NOT NULL DEFAULT 'http',
    custom_data        MEDIUMTEXT   NOT NULL,
    branch_headers     MEDIUMTEXT   NOT NULL,
    concurrent         TINYINT      NOT NULL DEFAULT 0,
    wait_result        TINYINT      NOT NULL DEFAULT 0,
    timeout_to_fail    INT          NOT NULL DEFAULT 0,
    retry_interval     INT          NOT NULL DEFAULT 0,
    request_timeout    INT          NOT NULL DEFAULT 0,
    delay              INT          NOT NULL DEFAULT 0,
    create_time        BIGINT       NOT NULL DEFAULT 0,
    update_time        BIGINT       NOT NULL DEFAULT 0,
    finish_time        BIGINT       NOT NULL DEFAULT 0,
    rollback_time      BIGINT       NOT NULL DEFAULT 0,
    next_cron_time     BIGINT       NOT NULL DEFAULT 0,
    next_cron_interval INT          NOT NULL DEFAULT 0,
    owner              VARCHAR(255) NOT NULL DEFAULT '',
    lease_until        BIGINT       NOT NULL DEFAULT 0,
    result             MEDIUMTEXT   NOT NULL,
    -- next_cron_time of an unfinished message, NULL once it is final. MySQL has
    -- no partial index; an index on this column is one, because a range
    -- `due_time <= now` never reads the NULLs: finished messages (the bulk of
    -- the table) cost the claim nothing. The claim and count_due queries name
    -- this column, not the CASE.
    due_time           BIGINT AS (CASE WHEN state IN ('prepared', 'submitted')
                                       THEN next_cron_time END) VIRTUAL,
    PRIMARY KEY (id),
    UNIQUE KEY msg_gid (gid),
    -- the claim: due unfinished messages in next_cron_time order; lease_until
    -- in the key lets the lease test skip leased rows without reading them
    KEY msg_due (due_time, lease_until),
    -- listing one state, newest first
    KEY msg_state_id (state, id),
    -- release_owner: the leases one relay holds
    KEY msg_owner (owner),
    CONSTRAINT msg_state_ok CHECK (state IN ('prepared', 'submitted', 'succeed', 'failed'))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- One step (a DTM branch op). Unique per (message, branch_id, op), as DTM's
-- trans_branch_op is per (gid, branch_id, op); the key also finds a message's
-- steps.
CREATE TABLE IF NOT EXISTS step (
    id          BIGINT      NOT NULL AUTO_INCREMENT,
    msg_id      BIGINT      NOT NULL,
    branch_id   VARCHAR(64) NOT NULL,
    op          VARCHAR(16) NOT NULL DEFAULT 'action',
    url         MEDIUMTEXT  NOT NULL,
    payload     LONGBLOB    NOT NULL,
    state       VARCHAR(16) NOT NULL DEFAULT 'prepared',
    attempts    INT         NOT NULL DEFAULT 0,
    last_error  MEDIUMTEXT  NULL,
    create_time BIGINT      NOT NULL DEFAULT 0,
    update_time BIGINT      NOT NULL DEFAULT 0,
    finish_time BIGINT      NOT NULL DEFAULT 0,
    PRIMARY KEY (id),
    UNIQUE KEY step_branch (msg_id, branch_id, op),
    CONSTRAINT step_msg FOREIGN KEY (msg_id) REFERENCES msg (id) ON DELETE CASCADE,
    CONSTRAINT step_state_ok CHECK (state IN ('prepared', 'succeed'))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
