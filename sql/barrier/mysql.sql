-- SPDX-License-Identifier: MIT
--
-- sql/barrier/mysql.sql - the barrier table of libmsgrelay's barrier
-- (include/msgrelay/barrier.h), in the APPLICATION's MySQL/MariaDB, not the
-- relay's store. Same shape and default name as DTM's
-- sqls/dtmcli.barrier.mysql.sql, so DTM SDKs and libmsgrelay can share it.
--
-- One row per (gid, branch_id, op, barrier_id): a delivered step inserts
-- (msg, gid, '01', 'action', '01', 'action'); the producer's local
-- transaction inserts (msg, gid, '00', 'msg', '01', 'msg'); a back-check that
-- finds nothing inserts (msg, gid, '00', 'msg', '01', 'rollback'), which
-- refuses the local transaction for good. Safe to run again: it creates only
-- what is missing. A different table name is fine (mr_barrier_set_table,
-- mr_client_msg_set_barrier_table) as long as the shape is this one.

CREATE DATABASE IF NOT EXISTS dtm_barrier
    /*!40100 DEFAULT CHARACTER SET utf8mb4 */;

CREATE TABLE IF NOT EXISTS dtm_barrier.barrier (
    id          bigint(22) PRIMARY KEY AUTO_INCREMENT,
    trans_type  varchar(45) DEFAULT '',
    gid         varchar(128) DEFAULT '',
    branch_id   varchar(128) DEFAULT '',
    op          varchar(45) DEFAULT '',
    barrier_id  varchar(45) DEFAULT '',
    reason      varchar(45) DEFAULT '' COMMENT 'the branch type who insert this record',
    create_time datetime DEFAULT now(),
    update_time datetime DEFAULT now(),
    KEY (create_time),
    KEY (update_time),
    UNIQUE KEY (gid, branch_id, op, barrier_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- The park table of the Kafka consumer loop (include/msgrelay/consumer.h):
-- one row per record it gave up on - no barrier headers, refused by the
-- callback, or failed max_attempts times - with where it came from and what
-- it carried, so an operator can look, fix and replay it. Parking inserts no
-- barrier row: a replayed record is applied once like any other.
CREATE TABLE IF NOT EXISTS dtm_barrier.parked (
    id              bigint PRIMARY KEY AUTO_INCREMENT,
    topic           varchar(249) NOT NULL,
    kafka_partition int NOT NULL,
    kafka_offset    bigint NOT NULL,
    gid             varchar(128) DEFAULT '',
    trans_type      varchar(45) DEFAULT '',
    branch_id       varchar(128) DEFAULT '',
    op              varchar(45) DEFAULT '',
    record_key      blob,
    payload         longblob,
    attempts        int NOT NULL DEFAULT 0,
    reason          varchar(255) DEFAULT '',
    create_time     datetime DEFAULT now(),
    KEY (gid),
    UNIQUE KEY (topic, kafka_partition, kafka_offset)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
