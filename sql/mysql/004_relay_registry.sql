-- SPDX-License-Identifier: MIT
--
-- sql/mysql/004_relay_registry.sql - version 4 of the MySQL/MariaDB relay
-- store: the registry of relay ids, one row per id naming the process that
-- holds it. Same columns and meaning as sql/sqlite/003_relay_registry.sql.
--
-- Applied by `msgrelay migrate`; safe to run again (IF NOT EXISTS) should a
-- migration stop half-way. Never edited once released.
--
-- A relay id is the lease owner of every message the relay delivers, so two
-- live processes must never share one, also when they run on different hosts
-- against this database. A relay writes its row at start-up (refused while
-- another process holds the id with a live heartbeat, unless that process is
-- provably dead), renews heartbeat_until while it runs, and deletes the row
-- when it stops cleanly. instance is a random token per process start;
-- machine (boot id and pid namespace) says where pid and pid_start (clock
-- ticks since boot) identify one process. relay_id is as wide as msg.owner.
-- Times are BIGINT UTC milliseconds.

CREATE TABLE IF NOT EXISTS relay_registry (
    relay_id        VARCHAR(255) NOT NULL,
    instance        VARCHAR(128) NOT NULL,
    host            VARCHAR(128) NOT NULL DEFAULT '',
    machine         VARCHAR(128) NOT NULL DEFAULT '',
    pid             BIGINT       NOT NULL DEFAULT 0,
    pid_start       BIGINT       NOT NULL DEFAULT 0,
    started_time    BIGINT       NOT NULL DEFAULT 0,
    heartbeat_until BIGINT       NOT NULL DEFAULT 0,
    PRIMARY KEY (relay_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
