-- SPDX-License-Identifier: MIT
--
-- sql/mysql/006_retention.sql - version 6 of the MySQL/MariaDB relay store:
-- what retention (`serve --retention`) needs to delete finished messages
-- cheaply, and the lease that lets one relay at a time do it. Same meaning
-- as sql/sqlite/004_retention.sql.
--
-- Applied by `msgrelay migrate`; safe to run again should a migration stop
-- half-way. Never edited once released.
--
-- done_time: when a final message became final (finish_time of a succeed
-- one, rollback_time of a failed one), NULL for every other state (parked
-- included). MySQL has no partial index; a range `done_time < cutoff`
-- never reads the NULLs, so retention walks only final messages, oldest
-- first, and stops at its LIMIT. STORED for the reason 003 gives for
-- due_time. One ALTER (one table copy), only while the column is missing.

SET @msgrelay_005 = (
    SELECT IF(COUNT(*) > 0, 'DO 0',
              'ALTER TABLE msg
                   ADD COLUMN done_time BIGINT AS (CASE WHEN state = ''succeed'' THEN finish_time
                                                        WHEN state = ''failed'' THEN rollback_time
                                                   END) STORED,
                   ADD KEY msg_done (done_time)')
    FROM information_schema.columns
    WHERE table_schema = DATABASE() AND table_name = 'msg' AND column_name = 'done_time');
PREPARE msgrelay_005 FROM @msgrelay_005;
EXECUTE msgrelay_005;
DEALLOCATE PREPARE msgrelay_005;

-- One row per periodic job that only one relay sharing this database may
-- run at a time (name 'retention'): owner is the relay id holding it until
-- lease_until (UTC milliseconds). Taken when it lapsed or is the taker's
-- own; renewed in each batch's transaction, whose row lock also keeps a
-- second relay waiting rather than deleting alongside.
CREATE TABLE IF NOT EXISTS job_lease (
    name        VARCHAR(64)  NOT NULL,
    owner       VARCHAR(255) NOT NULL DEFAULT '',
    lease_until BIGINT       NOT NULL DEFAULT 0,
    PRIMARY KEY (name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

INSERT IGNORE INTO job_lease (name) VALUES ('retention');
