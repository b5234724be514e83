-- SPDX-License-Identifier: MIT
--
-- sql/sqlite/003_relay_registry.sql - version 3 of the SQLite relay store:
-- the registry of relay ids, one row per id naming the process that holds it.
--
-- Applied by store_sqlite.c at open, after 002, in the same transaction as
-- any other pending file; never edited once released.
--
-- A relay id is the lease owner of every message the relay delivers, so two
-- live processes must never share one. A relay writes its row at start-up
-- (refused while another process holds the id with a live heartbeat, unless
-- that process is provably dead), renews heartbeat_until while it runs, and
-- deletes the row when it stops cleanly. instance is a random token per
-- process start; machine (boot id and pid namespace) says where pid and
-- pid_start (clock ticks since boot) identify one process. Times are
-- INTEGER UTC milliseconds.

CREATE TABLE relay_registry (
    relay_id        TEXT    PRIMARY KEY,
    instance        TEXT    NOT NULL,
    host            TEXT    NOT NULL DEFAULT '',
    machine         TEXT    NOT NULL DEFAULT '',
    pid             INTEGER NOT NULL DEFAULT 0,
    pid_start       INTEGER NOT NULL DEFAULT 0,
    started_time    INTEGER NOT NULL DEFAULT 0,
    heartbeat_until INTEGER NOT NULL DEFAULT 0
);
