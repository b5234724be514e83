-- SPDX-License-Identifier: MIT
--
-- examples/transfer/schema_postgres.sql - the bank of the transfer example on
-- PostgreSQL (examples/transfer/schema.sql is MySQL's), in the database the
-- service connects to (its --db postgres:// URI names it). Two accounts with
-- 1000 each; running it again changes nothing. The barrier table the service
-- also needs is sql/barrier/postgres.sql (dtm_barrier.barrier).

CREATE TABLE IF NOT EXISTS user_account (
    id              serial PRIMARY KEY,
    user_id         int NOT NULL UNIQUE,
    balance         numeric(10, 2) NOT NULL DEFAULT 0,
    trading_balance numeric(10, 2) NOT NULL DEFAULT 0,
    create_time     timestamptz DEFAULT now(),
    update_time     timestamptz DEFAULT now()
);

INSERT INTO user_account (user_id, balance) VALUES (1, 1000), (2, 1000)
    ON CONFLICT (user_id) DO NOTHING;
