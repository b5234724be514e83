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

-- The park table of the Kafka consumer loop (include/msgrelay/consumer_pg.h):
-- one row per record it gave up on - no barrier headers, refused by the
-- callback, or failed max_attempts times - with where it came from and what
-- it carried, so an operator can look, fix and replay it. Parking inserts no
-- barrier row: a replayed record is applied once like any other.
CREATE TABLE IF NOT EXISTS dtm_barrier.parked (
    id              bigserial PRIMARY KEY,
    topic           varchar(249) NOT NULL,
    kafka_partition int NOT NULL,
    kafka_offset    bigint NOT NULL,
    gid             varchar(128) DEFAULT '',
    trans_type      varchar(45) DEFAULT '',
    branch_id       varchar(128) DEFAULT '',
    op              varchar(45) DEFAULT '',
    record_key      bytea,
    payload         bytea,
    attempts        int NOT NULL DEFAULT 0,
    reason          varchar(255) DEFAULT '',
    create_time     timestamptz DEFAULT now(),
    CONSTRAINT parked_uniq UNIQUE (topic, kafka_partition, kafka_offset)
);

CREATE INDEX IF NOT EXISTS parked_gid ON dtm_barrier.parked (gid);
