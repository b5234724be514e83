-- SPDX-License-Identifier: MIT
--
-- examples/consumer/schema.sql - the table the example consumer applies
-- records to: one row per (gid, branch_id), n counts how often it was
-- applied. With the barrier, n must never pass 1. Load it with
-- sql/barrier/mysql.sql (barrier and park tables) into the consumer's database.
CREATE TABLE IF NOT EXISTS applied (
    gid       varchar(128) NOT NULL,
    branch_id varchar(128) NOT NULL,
    payload   blob,
    n         int NOT NULL DEFAULT 0,
    PRIMARY KEY (gid, branch_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
