-- SPDX-License-Identifier: MIT
--
-- sql/barrier/postgres.sql - the barrier table of libmsgrelay's barrier on
-- PostgreSQL (include/msgrelay/barrier_pg.h), in the APPLICATION's database,
-- not the relay's store. The layout of sql/barrier/mysql.sql (DTM's barrier
-- table) in schema dtm_barrier: same columns, same unique key, so DTM SDKs
-- and libmsgrelay can share it. INSERT ... ON CONFLICT DO NOTHING on that
-- key is what INSERT IGNORE is on MySQL.
--
-- create_time is filled by DEFAULT now() (mr_barrier_prune_pg reads it; a
-- row without one is never pruned). Safe to run again: it creates only what
-- is missing. A different table name is fine (mr_barrier_set_table,
-- mr_client_msg_set_barrier_table) as long as the shape is this one.

CREATE SCHEMA IF NOT EXISTS dtm_barrier;

CREATE TABLE IF NOT EXISTS dtm_barrier.barrier (
    id          bigserial PRIMARY KEY,
    trans_type  varchar(45) DEFAULT '',
    gid         varchar(128) DEFAULT '',
    branch_id   varchar(128) DEFAULT '',
    op          varchar(45) DEFAULT '',
    barrier_id  varchar(45) DEFAULT '',
    reason      varchar(45) DEFAULT '',
    create_time timestamptz DEFAULT now(),
    update_time timestamptz DEFAULT now(),
    CONSTRAINT barrier_uniq UNIQUE (gid, branch_id, op, barrier_id)
);

CREATE INDEX IF NOT EXISTS barrier_create_time ON dtm_barrier.barrier (create_time);
CREATE INDEX IF NOT EXISTS barrier_update_time ON dtm_barrier.barrier (update_time);

COMMENT ON COLUMN dtm_barrier.barrier.reason IS 'the branch type who insert this record';
