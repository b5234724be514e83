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
