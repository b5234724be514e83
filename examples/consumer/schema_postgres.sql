-- SPDX-License-Identifier: MIT
--
-- examples/consumer/schema_postgres.sql - the table the example consumer
-- counts records in, on PostgreSQL (examples/consumer/schema.sql is
-- MySQL's). The barrier and park tables are sql/barrier/postgres.sql.

CREATE TABLE IF NOT EXISTS applied (
    gid       varchar(128) NOT NULL,
    branch_id varchar(128) NOT NULL,
    payload   bytea,
    n         int NOT NULL DEFAULT 0,
    PRIMARY KEY (gid, branch_id)
);
